"""The predictions service under test: seeded data, settings, a locked table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg
import redis
from flask import Flask

from app import config, seed_data
from app.cache import Group, cache_key
from app.config import Settings
from app.infra.keys import flight_done
from app.web.params import parse_matched
from tests.support.observers import tagged_backends
from tests.support.waiting import wait_for

T = TypeVar("T")

NOW = dt.datetime(2026, 1, 24, 12, 0, tzinfo=dt.UTC)
# The only time bound on a locked table: far beyond what a busy machine needs.
LOCKED_AT_MOST_S = 20


def seed(database_url: str) -> None:
    seed_data.load(database_url, matches=200, predictions=3000, live=5, seed=7, now=NOW)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def settings_for(database_url: str, redis_url: str, **overrides: object) -> Settings:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "RQ_REDIS_URL": redis_url}
    return config.load(env | {name: str(value) for name, value in overrides.items()})


def key_of(query: str) -> str:
    """The cache key of /api/predictions/matched?`query`."""
    return cache_key(parse_matched(pair.split("=") for pair in query.split("&")).key_params())


def age_entry(client: redis.Redis, key: str, seconds: float) -> None:
    """Make the cached entry of `key` look stored `seconds` earlier (app/cache/shared.py's
    "fresh_until" line), for every process reading it, Redis's own expiry unchanged."""
    head, _, body = client.get(key).partition(b"\n")
    client.set(key, b"%.6f\n" % (float(head) - seconds) + body, keepttl=True)


def group_waiters(group: Group, key: str) -> int:
    """Callers in this process waiting for the call running for `key` (the Group's count)."""
    with group._lock:
        call = group._calls.get(key)
        return call.waiters if call is not None else 0


def app_waiters(app: Flask, query: str) -> int:
    """Requests in this app waiting for the one loading /api/predictions/matched?`query`."""
    return group_waiters(app.extensions["goalgpt"].cache._group, key_of(query))


def subscribers(client: redis.Redis, key: str) -> int:
    """Processes waiting for the news of the fleet-wide holder of `key`."""
    channel = flight_done(key)
    return dict(client.pubsub_numsub(channel))[channel.encode()]


def waiting_queries(database_url: str) -> list[dict]:
    """The predictions queries waiting on a lock right now."""
    return [b for b in tagged_backends(database_url) if b["wait"] == "Lock"]


def one_waiting_query(database_url: str) -> dict:
    """The one predictions query waiting on the table lock, once it waits."""
    waiting = wait_for(
        lambda: waiting_queries(database_url), LOCKED_AT_MOST_S, "the query to wait on the lock"
    )
    assert len(waiting) == 1, f"{len(waiting)} predictions queries got through, not one"
    return waiting[0]


def while_predictions_locked(
    database_url: str, fire: Callable[[], object], until: Callable[[], object], what: str
):
    """Run `fire` in a thread while the predictions table is locked, until `until()` holds.

    The one query that gets through waits on the lock, so every concurrent request
    really overlaps with it, however slowly the threads of a busy machine start.
    The lock is released once the test has seen what it waits for (`what`).
    """
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(fire)
            try:
                one_waiting_query(database_url)
                wait_for(until, LOCKED_AT_MOST_S, what)
            finally:
                blocker.rollback()
            return result.result()


def once_subscribed(
    client: redis.Redis, key: str, wait: Callable[[], T], then: Callable[[], object]
) -> T:
    """Run `wait` (a lookup that waits on the holder of `key`) in a thread; once it
    sleeps on the holder's channel, call `then`; return what `wait` returned.

    The waiter subscribes, then looks at the entry and the lock's TTL before each read
    of the channel; its first read only takes the subscription's confirmation. So it
    sleeps on the channel once it is subscribed and has asked for the TTL twice.
    """
    # A waiter of an earlier test may still be listed for a moment after it closed.
    wait_for(lambda: subscribers(client, key) == 0, LOCKED_AT_MOST_S, "earlier waiters to go")
    looked = pttl_calls(client)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait)
        wait_for(
            lambda: asleep_on_channel(client, key, looked),
            LOCKED_AT_MOST_S,
            "the waiter to sleep on the channel",
            every=0.01,
        )
        then()
        return waiting.result()


def asleep_on_channel(client: redis.Redis, key: str, looked: int) -> bool:
    """Whether the one waiter started when the server had answered `looked` TTLs now
    sleeps on the channel of `key`'s holder (see `once_subscribed`)."""
    return subscribers(client, key) == 1 and pttl_calls(client) >= looked + 2


def pttl_calls(client: redis.Redis) -> int:
    """How often the server was asked for a TTL: each is a waiter's look at the lock."""
    return client.info("commandstats").get("cmdstat_pttl", {}).get("calls", 0)
