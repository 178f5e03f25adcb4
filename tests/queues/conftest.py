"""Fixtures for the queue tests: throwaway Redis servers configured as the redis role does."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.rq_worker import RQProcess, rq_processes
from tests.support.servers import RedisServer


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
