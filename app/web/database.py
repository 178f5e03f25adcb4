"""The web's pool (`Database`), built by `app.infra.database.new_pool`, with its gauges.

A request sees a database failure as `DatabaseUnavailable` (answer 503 with
Retry-After) whose `kind` says why. Every refusal for lack of a connection slot
(`app.infra.refusal` recognises every form) is counted in
`goalgpt_db_too_many_clients_total`: `source="connect"` when the pool's connect
is refused (the caller then gets PoolTimeout), `source="query"` when a query is
(e.g. by a pooler in front of PostgreSQL).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from app import metrics
from app.config import Settings
from app.infra.database import new_pool
from app.infra.errors import DatabaseUnavailable, classify, first_line
from app.infra.names import WEB
from app.infra.refusal import RecentRefusals

GAUGE_REFRESH_S = 1.0


RECENT_REFUSALS = RecentRefusals()


def _count_refusal(source: str) -> None:
    metrics.DB_TOO_MANY_CLIENTS.labels(source=source).inc()
    RECENT_REFUSALS.add()


def _count_connect_refusal() -> None:
    _count_refusal("connect")


class Database:
    """A connection pool sized from the settings, reporting its stats as gauges."""

    def __init__(self, settings: Settings, application_name: str = WEB) -> None:
        self.pool_timeout_s = settings.POOL_TIMEOUT_S
        self.pool = new_pool(
            settings,
            application_name,
            settings.DB_MAX_CONNECTIONS,
            _count_connect_refusal,
            kwargs={"autocommit": True},
            min_size=min(2, settings.DB_MAX_CONNECTIONS),
            # A connection broken by a database restart is replaced, not handed out.
            check=ConnectionPool.check_connection,
        )
        self._stop = threading.Event()

    def open(self) -> Database:
        """Start connecting in the background; requests wait at most POOL_TIMEOUT_S."""
        self.pool.open(wait=False)
        threading.Thread(target=self._refresh_gauges, name="db-pool-gauges", daemon=True).start()
        return self

    def close(self) -> None:
        self._stop.set()
        self.pool.close()
        for gauge in metrics.POOL_GAUGES.values():
            gauge.set(0)

    @contextmanager
    def connection(self, deadline: float) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction; "unavailable" failures become DatabaseUnavailable.

        Waiting for the pool (at most POOL_TIMEOUT_S) and every statement end by
        `deadline` (time.monotonic()): the caller's lock is never outlived.
        """
        timeout = min(self.pool_timeout_s, deadline - time.monotonic())
        try:
            with self.pool.connection(timeout=max(timeout, 0.001)) as conn, conn.transaction():
                _limit_statements(conn, deadline)
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise _unavailable_or_same(exc) from exc
        finally:
            self.update_gauges()

    def ping(self, timeout_s: float) -> None:
        """Raise DatabaseUnavailable unless a pooled connection answers within timeout_s."""
        with self.connection(deadline=time.monotonic() + timeout_s) as conn:
            conn.execute("SELECT 1")

    def update_gauges(self) -> None:
        stats = self.pool.get_stats()
        for name, gauge in metrics.POOL_GAUGES.items():
            gauge.set(stats.get(name, 0))
        metrics.DB_TOO_MANY_CLIENTS_LAST_HOUR.set(RECENT_REFUSALS.count())

    def _refresh_gauges(self) -> None:
        # Waiting requests are only visible while they wait: sample them.
        while not self._stop.wait(GAUGE_REFRESH_S):
            self.update_gauges()


def _limit_statements(conn: psycopg.Connection, deadline: float) -> None:
    remaining_ms = int((deadline - time.monotonic()) * 1000)
    if remaining_ms <= 0:
        raise DatabaseUnavailable.of("timeout", "no time left for the query")
    # Local to the transaction: the pooled connection keeps no leftover limit.
    conn.execute("SELECT set_config('statement_timeout', %s, true)", [str(remaining_ms)])


def _unavailable_or_same(exc: Exception) -> Exception:
    kind = classify(exc)
    if kind is None:
        return exc
    if kind == "too_many_clients":
        _count_refusal("query")
    metrics.DB_ERRORS.labels(kind=kind).inc()
    return DatabaseUnavailable.of(kind, first_line(exc) if str(exc).strip() else "")
