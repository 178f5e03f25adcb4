"""One migration run at a time per database, and no operator stranded by a killed run.

yoyo's own lock is a row in `yoyo_lock`: a killed run leaves it behind and every
later run waits on it, then fails. Runs here hold a PostgreSQL session advisory
lock instead, which the server drops the moment the holder's connection goes
away. While holding it, any `yoyo_lock` row is a leftover of a killed run and is
cleared (with a warning naming it).

A killed runner can leave a backend still working (e.g. a CREATE INDEX
CONCURRENTLY that has not yet noticed its client is gone). Every migration
connection carries APPLICATION_NAME, so a new run can see such a backend and
wait for it briefly, then refuse with the pid to stop, instead of interleaving.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row

from app.infra.names import MIGRATE as APPLICATION_NAME

log = logging.getLogger("app.migrations")

# Fixed and arbitrary: shows in pg_locks as locktype advisory, classid 0, objid LOCK_KEY.
LOCK_KEY = 0x60A1_6F00
# Migration connections ask the server to check every second that their client
# is still there, so a killed runner's backends stop within about this long.
CLIENT_CHECK_INTERVAL_MS = 1000
ORPHAN_GRACE_S = 3 * CLIENT_CHECK_INTERVAL_MS / 1000
CONNECT_TIMEOUT_S = 10


class MigrationBlocked(Exception):
    """The run cannot go on now; nothing was left half-done; run it again later."""


@contextmanager
def exclusive_run(database_url: str) -> Iterator[psycopg.Connection]:
    """Hold the migration lock of this database for the block; yields the guard connection.

    Raises MigrationBlocked when another run holds the lock or a killed run's
    backend is still working.
    """
    with psycopg.connect(
        database_url,
        autocommit=True,
        application_name=APPLICATION_NAME,
        connect_timeout=CONNECT_TIMEOUT_S,
    ) as conn:
        if not conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            raise MigrationBlocked(
                f"another migration run holds the lock ({_lock_holder(conn)}); "
                "wait for it to finish, then run again"
            )
        _wait_for_orphans(conn)
        _clear_stale_yoyo_lock(conn)
        yield conn
        # Closing the connection releases the advisory lock, also on error.


def _lock_holder(conn: psycopg.Connection) -> str:
    row = conn.execute(
        """
        SELECT l.pid, a.client_addr, a.application_name,
               extract(epoch FROM now() - a.backend_start)::int
        FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted
          AND l.classid = 0 AND l.objid = %s AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """,
        (LOCK_KEY,),
    ).fetchone()
    if row is None:
        return "it was released just now"
    pid, addr, app, age = row
    return f"backend pid {pid}, {app or 'unknown client'} from {addr or 'local'}, for {age} s"


def _wait_for_orphans(conn: psycopg.Connection) -> None:
    deadline = time.monotonic() + ORPHAN_GRACE_S
    while True:
        row = conn.execute(
            """
            SELECT pid, state, extract(epoch FROM now() - query_start)::int,
                   left(regexp_replace(query, '\\s+', ' ', 'g'), 60)
            FROM pg_stat_activity
            WHERE application_name = %s AND pid <> pg_backend_pid()
              AND datname = current_database()
            ORDER BY query_start LIMIT 1
            """,
            (APPLICATION_NAME,),
        ).fetchone()
        if row is None:
            return
        if time.monotonic() > deadline:
            pid, state, age, query = row
            raise MigrationBlocked(
                f"a killed migration run left backend pid {pid} {state} for {age} s "
                f"({query}); wait for it to end or stop it with "
                f"SELECT pg_terminate_backend({pid}), then run again"
            )
        time.sleep(0.2)


def _clear_stale_yoyo_lock(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT to_regclass('yoyo_lock')").fetchone()[0] is None:
        return
    with conn.cursor(row_factory=dict_row) as cur:
        cleared = cur.execute("DELETE FROM yoyo_lock RETURNING pid, ctime").fetchall()
    for row in cleared:
        log.warning(
            "cleared a stale yoyo_lock row left by a killed run (pid %s, since %s UTC)",
            row["pid"],
            row["ctime"],
        )
