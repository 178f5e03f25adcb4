"""Fresh entries kept in process memory until they expire, to spare a Redis round trip.

A fresh entry never changes before it expires (a new value is only stored once
it went stale), so a copy held until the same instant serves exactly what
Redis would. Stale entries are never held here. Least recently used copies go
first once `max_entries` is reached; 0 keeps nothing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from app.infra.clock import SYSTEM, Clock


class LocalEntries:
    def __init__(self, max_entries: int, clock: Clock = SYSTEM) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def get(self, key: str) -> bytes | None:
        """The body while it is fresh, else None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= self.clock.time():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, body: bytes, fresh_until: float) -> None:
        """Hold `body` until `fresh_until` (the clock's time())."""
        if self.max_entries == 0:
            return
        with self._lock:
            self._entries[key] = (fresh_until, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
