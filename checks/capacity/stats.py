"""Read what the capacity decision needs from pg_settings, pg_stat_activity and pg_locks.

Needs only the `pg_monitor` role; without it the probe refuses to count
(see `require_stats_visibility`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.infra.errors import connect_reason as first_line
from checks.dbconnect import CheckError, require_stats_visibility

SETTINGS_SQL = """
SELECT current_setting('max_connections')::int AS max_connections,
       current_setting('superuser_reserved_connections')::int AS superuser_reserved,
       coalesce(current_setting('reserved_connections', true), '0')::int AS reserved,
       current_setting('server_version') AS server_version
"""

# Client backends only (walsenders and background workers have their own slots),
# this probe's own session excluded.
ACTIVITY_SQL = """
SELECT count(*) AS total,
       count(*) FILTER (WHERE state = 'active') AS active,
       count(*) FILTER (WHERE state = 'idle') AS idle,
       count(*) FILTER (WHERE state LIKE 'idle in transaction%%') AS idle_in_transaction,
       count(*) FILTER (WHERE application_name = ANY(%(pool_apps)s)) AS pool_connections,
       count(*) FILTER (WHERE state = 'active'
                          AND clock_timestamp() - query_start > make_interval(secs => %(slow_s)s))
         AS slow_queries
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
"""

IDLE_IN_TRANSACTION_SQL = """
SELECT pid, usename AS "user", application_name AS application,
       extract(epoch FROM clock_timestamp() - xact_start)::float8 AS age_s,
       left(query, 120) AS query
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND state LIKE 'idle in transaction%'
ORDER BY xact_start
"""

LOCK_WAITS_SQL = "SELECT count(*) AS lock_waits FROM pg_locks WHERE NOT granted"


@dataclass(frozen=True)
class IdleTransaction:
    pid: int
    user: str | None
    application: str | None
    age_s: float
    query: str


@dataclass(frozen=True)
class DbStats:
    server_version: str
    max_connections: int
    superuser_reserved: int
    reserved: int  # reserved_connections, PostgreSQL 16+; 0 before
    total: int
    active: int
    idle: int
    idle_in_transaction: int
    pool_connections: int  # held by the pools being sized (by application_name)
    slow_query_s: float  # the threshold slow_queries was counted with
    slow_queries: int
    lock_waits: int
    idle_transactions: tuple[IdleTransaction, ...]

    @property
    def reserved_slots(self) -> int:
        return self.superuser_reserved + self.reserved

    @property
    def usable_slots(self) -> int:
        """Slots an ordinary client can take: max_connections minus the reserved ones."""
        return self.max_connections - self.reserved_slots

    @property
    def other_connections(self) -> int:
        """Connections held by applications other than the pools being sized."""
        return self.total - self.pool_connections


def gather(conn: psycopg.Connection, pool_apps: Sequence[str], slow_query_s: float) -> DbStats:
    """One consistent-enough reading of the server's connection state."""
    try:
        require_stats_visibility(conn)
        settings = _one(conn, SETTINGS_SQL)
        params = {"pool_apps": list(pool_apps), "slow_s": slow_query_s}
        activity = _one(conn, ACTIVITY_SQL, params)
        waits = _one(conn, LOCK_WAITS_SQL)
        with conn.cursor(row_factory=dict_row) as cur:
            idle_tx = tuple(IdleTransaction(**row) for row in cur.execute(IDLE_IN_TRANSACTION_SQL))
    except psycopg.Error as exc:
        raise CheckError(f"cannot read statistics: {first_line(exc)}") from None
    return DbStats(
        **settings,
        **activity,
        **waits,
        slow_query_s=slow_query_s,
        idle_transactions=idle_tx,
    )


def _one(conn: psycopg.Connection, sql: str, params: dict | None = None) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql, params).fetchone()
    assert row is not None  # aggregate queries always return one row
    return row
