"""Real faults under a real gunicorn with 4 workers, watched from outside the app.

The predictions table is locked by the test, so the one query that gets
through waits where the test can see it (pg_stat_activity) and every other
request for the key is waiting on it. Which worker took each connection comes
from the kernel (`ss`), query counts from pg_stat_statements, failed statements
from PostgreSQL's own log.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import wait
from contextlib import AbstractContextManager

import psycopg
import pytest
import redis

from tests.support.gunicorn import GunicornServer, serving
from tests.support.observers import (
    Requests,
    failed_statements,
    process_of_backend,
    tagged_backends,
)
from tests.support.predictions import age_entry, key_of, one_waiting_query, subscribers
from tests.support.prometheus import sample_value
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

WORKERS = 4
# SINGLEFLIGHT_TIMEOUT_S of `short_flight_server`: a dead holder's lock lasts this long.
FLIGHT_S = 5
N = 40
# Every connection gets a thread even if one worker takes them all: a request
# queued behind busy threads would reach the cache only after the holder is done.
THREADS = N + 8
# Times a set of connections is opened again when one worker accepted them all.
SPREAD_TRIES = 5


def _serving(
    database_url: str, redis_url: str, **settings: object
) -> AbstractContextManager[GunicornServer]:
    """This file's servers: WORKERS workers of THREADS threads, a pool max of 10."""
    return serving(database_url, redis_url, WORKERS, THREADS, DB_MAX_CONNECTIONS=10, **settings)


@pytest.fixture(scope="module")
def short_flight_server(api_database_url, redis_server) -> Iterator[GunicornServer]:
    with _serving(api_database_url, redis_server.url, SINGLEFLIGHT_TIMEOUT_S=FLIGHT_S) as server:
        yield server


@pytest.fixture
def cache(redis_server) -> redis.Redis:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    return client


@pytest.fixture
def locked_table(api_database_url) -> Iterator[psycopg.Connection]:
    """The predictions table locked until the test rolls back (or ends)."""
    with psycopg.connect(api_database_url) as blocker:
        blocker.execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")
        yield blocker
        blocker.rollback()


@pytest.fixture
def requests() -> Iterator[Callable[[GunicornServer, int], Requests]]:
    opened: list[Requests] = []

    def open_(server: GunicornServer, n: int) -> Requests:
        """n connections, accepted by two workers or more: on a loaded box one worker
        may accept them all, and these tests are about what the other workers do."""
        for _ in range(SPREAD_TRIES):
            opened.append(Requests(server.port, n))
            if len(set(opened[-1].workers)) >= min(n, 2):
                break
            opened[-1].close()
        return opened[-1]

    yield open_
    for r in opened:
        r.close()


def cache_lookups(server: GunicornServer, result: str) -> Callable[[], float]:
    """Lookups with `result` counted by the app since this call."""

    def count() -> float:
        text = server.get("/metrics").body.decode()
        return sample_value(text, "goalgpt_cache_requests_total", result=result)

    start = count()
    return lambda: count() - start


def test_the_shared_query_failing_gives_every_waiter_503_after_one_attempt_and_caches_nothing(
    patient_server, cache, locked_table, requests, api_database_url, pg_server, count_queries
):
    query = "limit=11&status=won"
    key = key_of(query)
    log_before = len(pg_server.log_text())
    batch = requests(patient_server, N)
    assert len(set(batch.workers)) >= 2, "the connections all went to one worker"

    misses = cache_lookups(patient_server, "miss")
    answers = batch.send(f"/api/predictions/matched?{query}")
    holder = one_waiting_query(api_database_url)
    # Every request has looked the key up and missed, and every other process
    # waiting on the holder has subscribed to its outcome.
    wait_for(lambda: misses() == N, 20, f"{N} lookups")
    others = len(set(batch.workers)) - 1
    wait_for(lambda: subscribers(cache, key) == others, 20, f"{others} processes to wait")
    assert len(tagged_backends(api_database_url)) == 1
    with psycopg.connect(api_database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_cancel_backend(%s)", [holder["pid"]])
    done = [a.result(timeout=30) for a in answers]

    assert [a.status for a in done] == [503] * N, [a.error or a.body for a in done]
    assert all(a.headers.get("retry-after") for a in done)
    reasons = {a.json()["reason"] for a in done}
    assert reasons == {"database: timeout", "shared load failed"}, reasons
    failed = failed_statements(pg_server.log_text()[log_before:])
    assert len(failed) == 1, failed
    assert count_queries() == 0
    assert cache.exists(key, f"{key}:lock") == 0

    locked_table.rollback()
    again = patient_server.get(f"/api/predictions/matched?{query}")
    assert (again.status, again.headers["x-cache"]) == (200, "MISS")
    assert count_queries() == 1


def test_the_worker_running_the_query_killed_gives_exactly_one_more_query_after_the_timeout(
    short_flight_server, cache, locked_table, requests, api_database_url, pg_server, count_queries
):
    query = "limit=12&status=lost"
    key = key_of(query)
    path = f"/api/predictions/matched?{query}"
    first = requests(short_flight_server, N)
    answers = first.send(path)
    holder = one_waiting_query(api_database_url)
    victim = process_of_backend(holder["client_port"], pg_server.port)
    assert victim in first.workers
    dead_token = cache.get(f"{key}:lock")
    assert dead_token is not None

    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    lock_left_s = cache.pttl(f"{key}:lock") / 1000
    later = requests(short_flight_server, 10)  # sent after the kill: their wait covers the takeover
    later_answers = later.send(path)

    def takeover():
        pids = {b["pid"] for b in tagged_backends(api_database_url)} - {holder["pid"]}
        return pids

    new_pids = wait_for(takeover, FLIGHT_S + 10, "another process to take the query over")
    taken_after_s = time.monotonic() - killed_at
    new_token = cache.get(f"{key}:lock")
    [new_backend] = [b for b in tagged_backends(api_database_url) if b["pid"] in new_pids]
    taker = process_of_backend(new_backend["client_port"], pg_server.port)
    time.sleep(0.5)  # a second look: no third attempt while the new holder waits
    still = {b["pid"] for b in tagged_backends(api_database_url)} - {holder["pid"]}
    locked_table.rollback()
    done = [a.result(timeout=30) for a in answers] + [a.result(timeout=30) for a in later_answers]

    assert len(new_pids) == 1 and still == new_pids
    assert new_token not in (None, dead_token), "the query restarted before the dead lock expired"
    assert taken_after_s >= lock_left_s - 0.1
    assert count_queries() == 1, "the killed worker's query never completed; the takeover did"
    broken = [a for a in done if a.status is None]
    assert all(a.worker == victim for a in broken), "only the killed worker's connections break"
    # The taker's requests get the body; waiters elsewhere get it or, past their own
    # SINGLEFLIGHT_TIMEOUT_S, a 503 - never a 500 and never a second query.
    served = [a for a in done if a.worker == taker]
    assert served and {a.status for a in served} == {200}
    for answer in done:
        if answer.status == 503:
            assert answer.json()["reason"] == "shared load timeout"
        else:
            assert answer.status in (None, 200), answer.body
    assert len({a.body for a in done if a.status == 200}) == 1
    assert short_flight_server.get(path).headers["x-cache"] == "HIT"


@pytest.fixture(scope="module")
def patient_server(api_database_url, redis_server) -> Iterator[GunicornServer]:
    """A 20 s single-flight bound, far beyond each test's lock; entries served stale for
    2 minutes while one refresh runs; no local copies, so an entry the test ages in Redis
    is stale for every worker."""
    with _serving(
        api_database_url,
        redis_server.url,
        PREDICTIONS_CACHE_STALE_S=120,
        PREDICTIONS_LOCAL_CACHE_ENTRIES=0,
        SINGLEFLIGHT_TIMEOUT_S=20,
    ) as server:
        yield server


def test_stale_entries_are_served_at_once_by_every_worker_while_one_refresh_waits(
    patient_server, cache, requests, api_database_url, count_queries
):
    path = "/api/predictions/matched?limit=13&status=pending"
    warm = patient_server.get(path)
    assert (warm.status, warm.headers["x-cache"]) == (200, "MISS")
    age_entry(cache, key_of(path.partition("?")[2]), 30)  # stored a TTL ago: stale now

    with psycopg.connect(api_database_url) as blocker:
        blocker.execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")
        batch = requests(patient_server, N)
        answers = batch.send(path)
        # The refresh cannot finish while the table is locked, so an answer that
        # waited for it would still be pending here.
        _, pending = wait(answers, timeout=15)
        assert not pending, "some requests waited for the refresh"
        refresh = one_waiting_query(api_database_url)
        time.sleep(1)  # checked again a second later
        second = requests(patient_server, 10)
        second_answers = [a.result(timeout=15) for a in second.send(path)]
        refreshes = tagged_backends(api_database_url)
        blocker.rollback()

    done = [a.result() for a in answers]
    assert {(a.status, a.headers.get("x-cache")) for a in done + second_answers} == {(200, "STALE")}
    assert {a.body for a in done + second_answers} == {warm.body}
    assert len(set(batch.workers)) >= 2, "the stale answers all came from one worker"
    assert [r["pid"] for r in refreshes] == [refresh["pid"]], "one refresh, fleet-wide"
    latencies = sorted(a.latency_s for a in done)
    assert latencies[-1] < 15, latencies
    refreshed = lambda: patient_server.get(path).headers["x-cache"] == "HIT"  # noqa: E731
    wait_for(refreshed, 20, "the refresh to land")
    assert count_queries() == 2, "the first load and the one refresh"
