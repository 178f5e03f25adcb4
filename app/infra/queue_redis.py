"""The queue Redis (RQ_REDIS_URL), and the refusal to use one that may evict keys.

RQ keeps every job, queue and registry as plain Redis keys. On a Redis whose
maxmemory-policy evicts (e.g. allkeys-lru), a full cache silently deletes them:
jobs vanish with no error anywhere. So every process that writes jobs (workers,
`rq cron`, the enqueueing code) checks the policy first and refuses anything but
`noeviction`, under which a full Redis answers writes with an OOM error instead.

A long-running process (worker, the scheduler) that starts while the queue Redis is
down waits for it (`wait_until_usable`) instead of exiting: a process manager that
sees quick exits gives up (systemd's start limit, supervisord's FATAL), and the
fleet's only scheduler would stay dead after Redis came back.
"""

from __future__ import annotations

import sys
import time
from typing import NoReturn

import redis

from app.config import Settings, mask_url
from app.infra.errors import first_line
from app.infra.redis_client import client as redis_client

REQUIRED_POLICY = "noeviction"
CONNECT_TIMEOUT_S = 5.0
# How often a process waiting for the queue Redis asks again: it is back within this.
RETRY_S = 2.0


class UnsafeQueueRedis(Exception):
    """The queue Redis may lose jobs (or its policy cannot be read); one line for the operator."""


def connect(settings: Settings, timeout_s: float | None = None) -> redis.Redis:
    """A client of the queue Redis; `timeout_s` bounds each command (None: no bound)."""
    return redis_client(
        settings.RQ_REDIS_URL, connect_timeout_s=CONNECT_TIMEOUT_S, timeout_s=timeout_s
    )


def where(client: redis.Redis) -> str:
    """host:port of the client's server, for messages (never the password)."""
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return str(kwargs["path"])
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def maxmemory_policy(client: redis.Redis) -> str:
    """The server's maxmemory-policy; UnsafeQueueRedis if it cannot be read."""
    try:
        reply = client.config_get("maxmemory-policy")
    except redis.ResponseError as exc:
        raise UnsafeQueueRedis(
            f"cannot read maxmemory-policy of the queue Redis at {where(client)} ({exc}): "
            "allow CONFIG GET for the app's Redis user"
        ) from None
    policy = reply.get("maxmemory-policy") or reply.get(b"maxmemory-policy")
    return policy.decode() if isinstance(policy, bytes) else str(policy)


def check(client: redis.Redis) -> None:
    """Raise UnsafeQueueRedis unless the server never evicts keys.

    Connection errors pass through as redis.RedisError.
    """
    policy = maxmemory_policy(client)
    if policy != REQUIRED_POLICY:
        raise UnsafeQueueRedis(
            f"the queue Redis at {where(client)} has maxmemory-policy {policy}, which evicts "
            f"RQ jobs when memory is full; set maxmemory-policy {REQUIRED_POLICY} on it "
            "(the redis role's queue instance) or point RQ_REDIS_URL at one that has it"
        )


def ensure_checked(client: redis.Redis) -> None:
    """`check` once per client: the enqueueing helpers call it before every enqueue."""
    if getattr(client, "_goalgpt_queue_checked", False):
        return
    check(client)
    client._goalgpt_queue_checked = True  # type: ignore[attr-defined]


def refuse_to_start(who: str, exc: Exception) -> NoReturn:
    """Stop a long-running process (worker, rq cron) with one line on stderr."""
    print(f"error: {who} refuses to start: {first_line(exc)}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def check_or_exit(client: redis.Redis, who: str, url: str = "") -> None:
    """`check` for an entry point: any problem stops the process with one line, exit 1."""
    try:
        check(client)
    except UnsafeQueueRedis as exc:
        refuse_to_start(who, exc)
    except redis.RedisError as exc:
        target = mask_url(url) if url else where(client)
        refuse_to_start(who, Exception(f"cannot reach the queue Redis at {target}: {exc}"))


def wait_until_usable(
    client: redis.Redis, who: str, url: str = "", retry_s: float = RETRY_S
) -> None:
    """Return once the queue Redis answers and never evicts; one line when the wait starts
    and one when it ends. A Redis that may evict stops the process (`refuse_to_start`):
    that is a configuration to fix, not an outage to sit out."""
    target = mask_url(url) if url else where(client)
    started = None
    while True:
        try:
            check(client)
        except UnsafeQueueRedis as exc:
            refuse_to_start(who, exc)
        except redis.RedisError as exc:
            if started is None:
                started = time.monotonic()
                _say(
                    f"{who}: waiting for the queue Redis at {target}: {first_line(exc)} "
                    f"(asking again every {retry_s:g}s)"
                )
            time.sleep(retry_s)
            continue
        if started is not None:
            waited = time.monotonic() - started
            _say(f"{who}: the queue Redis at {target} answers after {waited:.0f}s")
        return


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
