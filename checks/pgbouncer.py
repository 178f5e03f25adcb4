"""PgBouncer's console for the checks: the second layer of the connection budget.

The monitor and the capacity probe read each bouncer's SHOW POOLS (clients active
and waiting, the longest wait, server connections active and idle) and SHOW STATS
(the clients' average wait) as the stats user, over `GOALGPT_PGBOUNCER_DSN`: one
postgresql:// URL per bouncer, database `pgbouncer`, separated by spaces (one URL
may itself list hosts with commas, so commas cannot separate them). The console's
own pool is left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psycopg

from app.config import mask_url
from checks.dbconnect import CheckError, NoFreeSlots, connect

DSN_ENV = "GOALGPT_PGBOUNCER_DSN"
ADMIN_DATABASE = "pgbouncer"


@dataclass(frozen=True)
class Pool:
    """One database/user pool of one bouncer."""

    database: str
    user: str
    client_active: int
    client_waiting: int
    server_active: int
    server_idle: int
    maxwait_s: float


@dataclass(frozen=True)
class Pools:
    """What one bouncer said."""

    source: str  # its URL without the password
    pools: tuple[Pool, ...]
    avg_wait_s: float = 0.0  # SHOW STATS: clients' average wait for a server, last period

    @property
    def client_waiting(self) -> int:
        return sum(p.client_waiting for p in self.pools)

    @property
    def maxwait_s(self) -> float:
        return max((p.maxwait_s for p in self.pools), default=0.0)

    @property
    def server_active(self) -> int:
        return sum(p.server_active for p in self.pools)

    @property
    def server_idle(self) -> int:
        return sum(p.server_idle for p in self.pools)


def dsns(explicit: list[str] | None = None) -> list[str]:
    """The bouncers' console URLs: `explicit` if given, else $GOALGPT_PGBOUNCER_DSN's."""
    if explicit:
        return explicit
    return os.environ.get(DSN_ENV, "").split()


def source(dsn: str) -> str:
    return f"PgBouncer {mask_url(dsn)} (SHOW POOLS)"


def _rows(conn: psycopg.Connection, command: str) -> list[dict]:
    cur = conn.execute(command)
    names = [column.name for column in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def pools_of(conn: psycopg.Connection, dsn: str) -> Pools:
    rows = _rows(conn, "SHOW POOLS")
    waits = [int(r["avg_wait_time"]) for r in _rows(conn, "SHOW STATS")]
    return Pools(
        source(dsn),
        tuple(
            Pool(
                database=r["database"],
                user=r["user"],
                client_active=r["cl_active"],
                client_waiting=r["cl_waiting"],
                server_active=r["sv_active"],
                server_idle=r["sv_idle"],
                maxwait_s=r["maxwait"] + r["maxwait_us"] / 1e6,
            )
            for r in rows
            if r["database"] != ADMIN_DATABASE
        ),
        avg_wait_s=max(waits, default=0) / 1e6,
    )


def read(dsn: str) -> Pools:
    """One bouncer's pools; CheckError (one line) when it does not answer."""
    try:
        with connect(dsn) as conn:
            return pools_of(conn, dsn)
    except NoFreeSlots as exc:
        raise CheckError(f"{mask_url(dsn)} refused the check: {exc}") from None
    except psycopg.Error as exc:
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckError(f"cannot read SHOW POOLS from {mask_url(dsn)}: {line}") from None
