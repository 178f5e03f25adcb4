"""Fixtures for the queue tests: throwaway Redis servers configured as the redis role does."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.rq_worker import RQProcess, rq_processes
from tests.support.servers import RedisServer

# The redis role's two instances (roles/redis/defaults/main.yml), with small memory limits.
CACHE_CONFIG = {"maxmemory": "3mb", "maxmemory-policy": "allkeys-lru"}
QUEUE_CONFIG = {
    "maxmemory": "64mb",
    "maxmemory-policy": "noeviction",
    "appendonly": "yes",
    "appendfsync": "everysec",
}


@pytest.fixture
def start_redis() -> Iterator[Callable[..., RedisServer]]:
    """Start Redis servers with their own settings; every one is stopped at the end."""
    started: list[RedisServer] = []

    def start(config: dict[str, str] | None = None, password: str | None = None) -> RedisServer:
        server = RedisServer(config=dict(config or {}), password=password).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def rq() -> Iterator[Callable[..., RQProcess]]:
    with rq_processes() as start:
        yield start


def job_env(cache: RedisServer, queues: RedisServer, **more: str) -> dict[str, str]:
    """The environment of a worker or tool: the two Redis URLs (with their passwords)."""
    return {"REDIS_URL": cache.url, "RQ_REDIS_URL": queues.url, **more}
