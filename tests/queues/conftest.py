"""Fixtures for the queue tests: throwaway Redis servers configured as the redis role does."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.servers import RedisServer
from tests.support.started import stopped_at_end


@pytest.fixture
def start_redis() -> Iterator[Callable[..., RedisServer]]:
    """Start Redis servers with their own settings; every one is stopped at the end."""

    def start(config: dict[str, str] | None = None, password: str | None = None) -> RedisServer:
        return RedisServer(config=dict(config or {}), password=password).start()

    with stopped_at_end(start) as started:
        yield started
