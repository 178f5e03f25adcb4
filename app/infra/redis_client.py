"""The one way to build a Redis client: timeouts stated, no retries where Redis is optional."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def client(
    url: str, *, connect_timeout_s: float, timeout_s: float | None = None, fail_fast: bool = False
) -> redis.Redis:
    """A client of `url`; `timeout_s` bounds each command (None: wait for the answer).

    `fail_fast` turns redis-py's retries off: for callers that go on without Redis
    (the web's cache), one failed command must cost one timeout, not several.
    """
    options: dict[str, object] = {
        "socket_connect_timeout": connect_timeout_s,
        "socket_timeout": timeout_s,
    }
    if fail_fast:
        options["retry"] = Retry(NoBackoff(), 0)
    return redis.Redis.from_url(url, **options)
