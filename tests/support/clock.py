"""A clock the test moves by hand (app/infra/clock.py's Clock), to stand exactly before
or after a bound instead of sleeping up to it."""

from __future__ import annotations

import threading
import time

# About a millisecond, as a binary fraction: whole seconds plus or minus TICK are exact
# floats, so a test stands exactly at a bound, or exactly one tick before it.
TICK = 2**-10


class ManualClock:
    """Starts at this second of the system's clocks and moves only when the test calls
    `advance`. With `running_monotonic`, monotonic() runs with the system's (plus what
    was advanced): for an app whose deadlines reach real code (a pool's wait, a statement
    timeout) while the test only moves the wall clock past a TTL."""

    def __init__(self, running_monotonic: bool = False) -> None:
        self._wall = float(int(time.time()))
        self._monotonic = float(int(time.monotonic()))
        self._running = running_monotonic
        self._advanced = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._wall + self._advanced

    def monotonic(self) -> float:
        with self._lock:
            if self._running:
                return time.monotonic() + self._advanced
            return self._monotonic + self._advanced

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._advanced += seconds
