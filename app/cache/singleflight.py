"""In-process single-flight, after Go's golang.org/x/sync/singleflight.

`Group.do(key, fn)` runs `fn` once for all threads that ask for the same key at
the same time: the first caller runs it, the others wait and receive the same
value, or the same exception, and `shared` tells them apart. Nothing is
remembered once the call returns: the next `do` runs `fn` again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class SingleFlightTimeout(Exception):
    """A waiter gave up on a call that did not finish in time."""


@dataclass
class _Call(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None
    waiters: int = 0


class Group(Generic[T]):
    """Deduplicates concurrent calls by key among the threads of one process."""

    def __init__(self, wait_timeout_s: float | None = None) -> None:
        # A liveness bound only: the callers' functions bound themselves.
        self._wait_timeout_s = wait_timeout_s
        self._lock = threading.Lock()
        self._calls: dict[str, _Call[T]] = {}

    def do(self, key: str, fn: Callable[[], T]) -> tuple[T, bool]:
        """Return (fn's value, shared); fn's exception is raised in every caller."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if leader:
                call = self._calls[key] = _Call()
            else:
                call.waiters += 1
        if not leader:
            return self._wait(call), True
        try:
            call.value = fn()
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()
        return call.value, False

    def in_flight(self, key: str) -> bool:
        """Whether a call for `key` is running right now."""
        with self._lock:
            return key in self._calls

    def _wait(self, call: _Call[T]) -> T:
        if not call.done.wait(self._wait_timeout_s):
            raise SingleFlightTimeout(f"no result within {self._wait_timeout_s}s")
        if call.error is not None:
            raise call.error
        return call.value
