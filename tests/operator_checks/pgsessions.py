"""Real client sessions in a chosen state, for the capacity probe and monitor to find.

Queries are sent with libpq's asynchronous send, so a session stays `active`
(running pg_sleep or waiting for a lock) without a thread per session. The
object holds no connection of its own, so the sessions a test opens are exactly
the ones the probe sees. Closing terminates every backend it opened and waits
until PostgreSQL no longer lists them, so the next test counts from zero.
"""

from __future__ import annotations

import psycopg
from psycopg.pq import TransactionStatus

from tests.support.servers import PostgresServer
from tests.support.waiting import wait_for


def with_monitor_role(server: PostgresServer) -> PostgresServer:
    """`server` with the role the checks log in as: `monitor`, in pg_monitor (trust auth)."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE ROLE monitor LOGIN IN ROLE pg_monitor")
    return server


class Sessions:
    def __init__(self, url: str) -> None:
        self.url = url
        self.conns: list[psycopg.Connection] = []

    def __enter__(self) -> Sessions:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def open(self, n: int, app: str = "goalgpt-web") -> list[psycopg.Connection]:
        """`n` idle sessions."""
        new = [psycopg.connect(self.url, autocommit=True, application_name=app) for _ in range(n)]
        self.conns += new
        return new

    def running(
        self, n: int, sql: str = "SELECT pg_sleep(120)", app: str = "goalgpt-web"
    ) -> list[psycopg.Connection]:
        """`n` sessions busy with `sql` (state active) until closed."""
        busy = self.open(n, app)
        for conn in busy:
            conn.pgconn.send_query(sql.encode())
        return busy

    @staticmethod
    def restart(busy: list[psycopg.Connection], sql: str = "SELECT pg_sleep(120)") -> None:
        """Cancel the queries of `busy` sessions and start `sql` afresh on each."""
        for conn in busy:
            conn.cancel()
            while conn.pgconn.get_result() is not None:  # the cancelled query's error
                pass
            conn.pgconn.send_query(sql.encode())

    def idle_in_transaction(self, n: int, app: str = "goalgpt-web") -> None:
        for conn in self.open(n, app):
            conn.execute("BEGIN")
            conn.execute("SELECT 1")

    @staticmethod
    def wait_for(via: psycopg.Connection, sql: str, expected: int, timeout_s: float = 20) -> None:
        """Poll on the idle session `via` until `sql` (one count) returns at least `expected`."""

        def reached() -> bool:
            return via.execute(sql).fetchone()[0] >= expected

        wait_for(reached, timeout_s, f"{sql!r} to reach {expected}", every=0.05)

    def close(self) -> None:
        """Terminate and close every session, from one of them when one is idle.

        Using an idle session of our own matters when the server is full: a new
        connection would be refused.
        """
        pids = [conn.info.backend_pid for conn in self.conns]
        idle = [c for c in self.conns if c.info.transaction_status == TransactionStatus.IDLE]
        admin = idle[0] if idle else psycopg.connect(self.url, autocommit=True)
        others = [pid for pid in pids if pid != admin.info.backend_pid]
        admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [others])
        listed = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)"

        def gone() -> bool:
            return not admin.execute(listed, [others]).fetchone()[0]

        try:
            wait_for(gone, 20, "the terminated sessions to leave pg_stat_activity", every=0.05)
        finally:
            for conn in [*self.conns, admin]:
                conn.close()
            self.conns = []
