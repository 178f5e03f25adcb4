"""The clock that deadlines, freshness and windows are read from.

The system's (`SYSTEM`, the `time` module) everywhere in the service; a test that
must stand just before or just after a bound passes a clock it moves by hand
(tests/support/clock.py) instead of sleeping up to it.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall-clock seconds since the epoch (what is stored for other processes to read)."""
        ...

    def monotonic(self) -> float:
        """Seconds for deadlines and windows within this process."""
        ...


SYSTEM: Clock = time
