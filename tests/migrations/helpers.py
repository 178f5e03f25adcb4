"""Helpers for the migration tests: run the CLI, hold transactions, read the schema."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable

import psycopg

from app.migrations.guard import APPLICATION_NAME
from tests.support.paths import REPO
from tests.support.processes import module_argv, run_module
from tests.support.waiting import wait_for

HALF_STATS = {
    "statistics_second_half",
    "incidents_first_half",
    "incidents_second_half",
    "data_completeness",
}


def _env(dsn: str, settings: dict[str, str]) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": dsn, **settings}


def run_cli(*args: str, dsn: str, **settings: str) -> subprocess.CompletedProcess:
    """`python -m app.migrations ARGS` with DATABASE_URL=dsn and extra environment."""
    return run_module("app.migrations", *args, env=_env(dsn, settings), timeout=300)


def start_cli(*args: str, dsn: str, **settings: str) -> subprocess.Popen:
    """The same, started in the background; the caller waits for or kills it."""
    return subprocess.Popen(
        module_argv("app.migrations", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(dsn, settings),
        cwd=REPO,
    )


def rerun_after_an_interrupted_build(dsn: str) -> str:
    """Verify names the invalid index, then apply rebuilds it; apply's stderr."""
    check = run_cli("verify", dsn=dsn)
    assert check.returncode == 1
    assert "INVALID (an interrupted build): run apply again" in check.stdout
    rerun = run_cli("apply", dsn=dsn)
    assert rerun.returncode == 0, rerun.stderr
    assert "is INVALID (an interrupted build): dropping and rebuilding it" in rerun.stderr
    return rerun.stderr


def scalar(dsn: str, sql: str, params: tuple = ()):
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]


def column_names(dsn: str, table: str = "ts_matches") -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
        )
        return {r[0] for r in rows}


def schema(dsn: str) -> dict[str, list]:
    """Columns (in order, without their attnum), indexes and constraints of the public schema.

    Ordinal positions are left out on purpose: a dropped column keeps its attnum,
    so rollback + apply renumbers the new columns without changing the schema.
    """
    with psycopg.connect(dsn) as conn:
        columns = conn.execute(
            """
            SELECT table_name, column_name, data_type, column_default, is_nullable
            FROM information_schema.columns WHERE table_schema = 'public'
            ORDER BY table_name, ordinal_position
            """
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        constraints = conn.execute(
            """
            SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
            FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2
            """
        ).fetchall()
    return {"columns": columns, "indexes": indexes, "constraints": constraints}


def migration_sessions(dsn: str) -> list[tuple]:
    """Backends of migration runs (ours are named APPLICATION_NAME) in this database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, state, query FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        ).fetchall()


def yoyo_lock_rows(dsn: str) -> int:
    return scalar(dsn, "SELECT count(*) FROM yoyo_lock")


def create_index_progress(dsn: str) -> tuple | None:
    """(pid, phase) of a CREATE INDEX running in this database, if any."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT pid, phase FROM pg_stat_progress_create_index "
            "WHERE datname = current_database()"
        ).fetchone()


class OpenTransaction:
    """A transaction left open on its own connection, as a long report or a stuck client does.

    `statements` run at the start; the locks and snapshot they take are held
    until `close()` commits.
    """

    def __init__(self, dsn: str, *statements: str, isolation: str = "READ COMMITTED"):
        self.conn = psycopg.connect(dsn, autocommit=True, application_name="long-reader")
        self.pid = self.conn.info.backend_pid
        self.conn.execute(f"BEGIN ISOLATION LEVEL {isolation}")
        for statement in statements:
            self.conn.execute(statement)

    def close(self) -> None:
        if not self.conn.closed:
            self.conn.execute("COMMIT")
            self.conn.close()

    def __enter__(self) -> OpenTransaction:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class ClosesAfter(threading.Thread):
    """Closes an OpenTransaction from another thread, `seconds` after `met()` first holds
    (a migration reached it): how long it is held is what the test is about."""

    def __init__(self, transaction: OpenTransaction, met: Callable[[], object], seconds: float):
        super().__init__(daemon=True)
        self.transaction, self.met, self.seconds = transaction, met, seconds

    def run(self) -> None:
        try:
            wait_for(self.met, 60, "the migration to reach the open transaction")
            time.sleep(self.seconds)
        finally:
            self.transaction.close()


def alter_started(dsn: str) -> bool:
    """Whether a migration run's session has sent its ALTER TABLE (waiting, or refused)."""
    return any(query.startswith("ALTER TABLE") for _, _, query in migration_sessions(dsn))


# Built server-side: 1M rows take seconds instead of minutes of round trips.
INSERT_MATCHES = """
INSERT INTO ts_matches (id, competition, home_team, away_team, kickoff_at, status, minute)
SELECT 'm' || lpad(g::text, 9, '0'), 'Premier League', 'North United', 'South City',
       now() - make_interval(mins => g),
       CASE WHEN g %% 100 = 0 THEN 'second_half' ELSE 'finished' END,
       CASE WHEN g %% 100 = 0 THEN 60 END
FROM generate_series(1, %s) AS g
"""


def insert_matches(dsn: str, count: int) -> None:
    """`count` matches with ids m000000001...; one in a hundred live."""
    with psycopg.connect(dsn) as conn:
        conn.execute(INSERT_MATCHES, (count,))
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE ts_matches")
