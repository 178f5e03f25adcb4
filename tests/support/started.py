"""The one way a fixture starts servers for its tests: each one it started is stopped at
the fixture's end (start_postgres, start_redis, start_app, metrics_server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, Protocol, TypeVar


class Stoppable(Protocol):
    def stop(self) -> None: ...


P = ParamSpec("P")
S = TypeVar("S", bound=Stoppable)


@contextmanager
def stopped_at_end(start: Callable[P, S]) -> Iterator[Callable[P, S]]:
    """`start`, keeping what it returns: every server it started is stopped, in the order
    started, when the block ends."""
    started: list[S] = []

    def start_and_keep(*args: P.args, **kwargs: P.kwargs) -> S:
        server = start(*args, **kwargs)
        started.append(server)
        return server

    try:
        yield start_and_keep
    finally:
        for server in started:
            server.stop()
