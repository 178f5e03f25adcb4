"""One psycopg_pool per process, and what its failures mean for a request.

A request sees a database failure as `DatabaseUnavailable` (answer 503 with
Retry-After) whose `kind` says why. Every refusal for lack of a connection slot
(`app.refusal` recognises every form) is counted in
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
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from app import metrics
from app.config import Settings
from app.refusal import counting_connection, is_too_many_clients

WEB = "goalgpt-web"
WORKER = "goalgpt-worker"
GAUGE_REFRESH_S = 1.0


class DatabaseUnavailable(Exception):
    """The database could not answer in time; the caller should answer 503."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


def classify(exc: BaseException) -> str | None:
    """The `kind` of a failure that makes the database unavailable, None for other errors.

    Errors in our own SQL (undefined column, syntax) are bugs, not outages: None.
    """
    if isinstance(exc, PoolTimeout):
        return "pool_timeout"
    if is_too_many_clients(exc):
        return "too_many_clients"
    if isinstance(exc, errors.QueryCanceled):
        return "timeout"
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return "connection"
    return None


def _count_connect_refusal() -> None:
    metrics.DB_TOO_MANY_CLIENTS.labels(source="connect").inc()


CountingConnection = counting_connection(_count_connect_refusal)


class Database:
    """A connection pool sized from the settings, reporting its stats as gauges."""

    def __init__(self, settings: Settings, application_name: str = WEB) -> None:
        self.pool_timeout_s = settings.POOL_TIMEOUT_S
        self.pool = ConnectionPool(
            settings.DATABASE_URL,
            connection_class=CountingConnection,
            kwargs={"application_name": application_name, "autocommit": True},
            min_size=min(2, settings.DB_MAX_CONNECTIONS),
            max_size=settings.DB_MAX_CONNECTIONS,
            timeout=settings.POOL_TIMEOUT_S,
            # A connection broken by a database restart is replaced, not handed out.
            check=ConnectionPool.check_connection,
            name=application_name,
            open=False,
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

    def _refresh_gauges(self) -> None:
        # Waiting requests are only visible while they wait: sample them.
        while not self._stop.wait(GAUGE_REFRESH_S):
            self.update_gauges()


def _limit_statements(conn: psycopg.Connection, deadline: float) -> None:
    remaining_ms = int((deadline - time.monotonic()) * 1000)
    if remaining_ms <= 0:
        raise DatabaseUnavailable("timeout", "no time left for the query")
    # Local to the transaction: the pooled connection keeps no leftover limit.
    conn.execute("SELECT set_config('statement_timeout', %s, true)", [str(remaining_ms)])


def _unavailable_or_same(exc: Exception) -> Exception:
    kind = classify(exc)
    if kind is None:
        return exc
    if kind == "too_many_clients":
        metrics.DB_TOO_MANY_CLIENTS.labels(source="query").inc()
    metrics.DB_ERRORS.labels(kind=kind).inc()
    return DatabaseUnavailable(kind, str(exc).strip().splitlines()[0] if str(exc) else "")
