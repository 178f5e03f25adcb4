"""One classifier of "no connection slot left", for the web app, the jobs and the checks.

The forms it recognises (compared without case, spaces and underscores):

- PostgreSQL, every slot taken: "sorry, too many clients already" (SQLSTATE 53300);
- PostgreSQL, only reserved slots left, which a NON-superuser meets first:
  "remaining connection slots are reserved for non-replication superuser
  connections" (15), "... reserved for roles with the SUPERUSER attribute" and
  "... reserved for roles with privileges of the "pg_use_reserved_connections"
  role" (16+), all SQLSTATE 53300;
- PgBouncer: "no more connections allowed (max_client_conn)" at connect, and
  "query_wait_timeout" (SQLSTATE 08P01) when a client waited query_wait_timeout
  for a server connection and was thrown out; Supavisor:
  "MaxClientsInSessionMode: max clients reached"; others "max client connections".

While connecting, libpq hands psycopg the server's FATAL text with no SQLSTATE
(`sqlstate` is None), so the text is what identifies a refusal there; on a
query (e.g. behind a pooler) the SQLSTATE does.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import psycopg

from app.infra import pgpass
from app.infra.clock import SYSTEM, Clock

SQLSTATE = "53300"
# The review's MaxClients window ("> 3 in 1 hour"): the recent counts cover this span.
WINDOW_S = 3600
_TEXTS = (
    "too many clients",
    "remaining connection slots are reserved",
    "no more connections allowed",
    "max clients",
    "max client conn",
    "query_wait_timeout",
)


def _squeeze(text: str) -> str:
    return text.lower().replace(" ", "").replace("_", "")


_SQUEEZED = tuple(_squeeze(text) for text in _TEXTS)


def is_too_many_clients(exc: BaseException) -> bool:
    """True for every form of "no connection slot left" we know of."""
    if getattr(exc, "sqlstate", None) == SQLSTATE:
        return True
    text = _squeeze(str(exc))
    return any(pattern in text for pattern in _SQUEEZED)


def counting_connection(on_refusal: Callable[[], None]) -> type[psycopg.Connection]:
    """A psycopg Connection class that calls `on_refusal` when a connect is refused for
    lack of slots. Inside a psycopg_pool the refusal happens in a background worker and
    the caller later sees only PoolTimeout: this is where it can be counted. It tries
    each password of the password file in turn (app.infra.pgpass: rotations)."""

    class CountingConnection(psycopg.Connection):
        @classmethod
        def connect(cls, conninfo: str = "", **kwargs: Any) -> CountingConnection:  # type: ignore[override]
            try:
                return pgpass.connect(super().connect, conninfo, **kwargs)
            except psycopg.Error as exc:
                if is_too_many_clients(exc):
                    on_refusal()
                raise

    return CountingConnection


class RecentRefusals:
    """When this process met refusals, to count those of the last WINDOW_S seconds."""

    def __init__(self, window_s: float = WINDOW_S, clock: Clock = SYSTEM) -> None:
        self.window_s = window_s
        self.clock = clock
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self._times.append(self.clock.monotonic())

    def count(self) -> int:
        oldest = self.clock.monotonic() - self.window_s
        with self._lock:
            while self._times and self._times[0] < oldest:
                self._times.popleft()
            return len(self._times)
