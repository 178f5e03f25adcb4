"""Behind PgBouncer in transaction mode, nothing a client sets outlives its transaction.

PgBouncer here has ONE server connection (default_pool_size = max_db_connections = 1),
so every client's transactions run on it one after the other: whatever one client
left in that session, the next one sees. The jobs and the web app go through it as
they do on the fleet; another client then reads the session's settings. pg_settings
says where each value came from: `session` is a SET or set_config(..., false) that
stayed; PgBouncer itself sets only the parameters it tracks per client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from app.jobs import data_completeness, match_minute, watchdog
from app.jobs.context import job_context
from app.jobs.orchestrator import update_match
from app.web import close_app, create_app
from tests.support.pgbouncer import PgBouncerServer, create_role
from tests.support.predictions import seed, settings_for

ROLE = f"pooled_{uuid.uuid4().hex[:8]}"
PASSWORD = uuid.uuid4().hex
# What PgBouncer itself sends a server connection when the next client differs.
TRACKED_BY_PGBOUNCER = {
    "application_name",
    "client_encoding",
    "DateStyle",
    "TimeZone",
    "standard_conforming_strings",
}
LEFT_IN_SESSION = "SELECT name, setting FROM pg_settings WHERE source = 'session' ORDER BY name"


@pytest.fixture(scope="module")
def bouncer(pg_server, migrated_database_url) -> Iterator[PgBouncerServer]:
    seed(migrated_database_url)
    dbname = migrated_database_url.rsplit("/", 1)[1]
    create_role(pg_server, ROLE, PASSWORD)
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        conn.execute(f"GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO {ROLE}")
    one_server = {"default_pool_size": "1", "max_db_connections": "1"}
    server = PgBouncerServer(pg_server, dbname, [ROLE], settings=one_server).start()
    yield server
    server.stop()
    with psycopg.connect(migrated_database_url, autocommit=True) as conn:
        conn.execute(f"DROP OWNED BY {ROLE}")
        conn.execute(f"DROP ROLE {ROLE}")


@pytest.fixture
def pooled_url(bouncer) -> str:
    return bouncer.url(ROLE, PASSWORD)


def next_client(pooled_url: str) -> tuple[int, str, list[tuple[str, str]]]:
    """Another client through the bouncer: its server pid, lock_timeout, what the session kept."""
    with psycopg.connect(pooled_url, autocommit=True, prepare_threshold=None) as conn:
        pid, lock_timeout = conn.execute(
            "SELECT pg_backend_pid(), current_setting('lock_timeout')"
        ).fetchone()
        kept = conn.execute(LEFT_IN_SESSION).fetchall()
    return pid, lock_timeout, [(n, v) for n, v in kept if n not in TRACKED_BY_PGBOUNCER]


def server_connections(database_url: str) -> list[int]:
    """The pids of ROLE's sessions on PostgreSQL, seen directly (not through the bouncer)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE usename = %s AND datname = current_database()",
            [ROLE],
        ).fetchall()
    return [pid for (pid,) in rows]


def a_live_match(database_url: str) -> str:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT id FROM ts_matches WHERE status IN ('first_half', 'second_half') LIMIT 1"
        ).fetchone()
    return row[0]


def test_a_job_update_leaves_its_lock_timeout_to_no_other_client_of_its_server_connection(
    bouncer, pooled_url, migrated_database_url, redis_url
):
    settings = settings_for(pooled_url, redis_url, ORCHESTRATOR_LOCK_TIMEOUT_MS=1234)
    match = a_live_match(migrated_database_url)
    with job_context(settings) as ctx:
        # The update's row lock waits at most 1234 ms: it set lock_timeout on the server.
        result = update_match(match, {"minute": 77}, ctx=ctx)
        pid, lock_timeout, kept = next_client(pooled_url)

    assert result.status == "updated", result
    assert server_connections(migrated_database_url) == [pid]  # both ran on this one
    assert lock_timeout == "0"
    assert kept == []


def test_every_job_and_web_request_through_one_server_connection_leaves_no_session_setting(
    bouncer, pooled_url, migrated_database_url, redis_url
):
    settings = settings_for(pooled_url, redis_url, POOL_TIMEOUT_S=10)
    for job in (match_minute.tick, watchdog.run, data_completeness.run):
        summary = job(settings)
        assert not hasattr(summary, "retry_in"), (job, summary)  # a Retry: it did not run
    web = create_app(settings)
    try:
        client = web.test_client()
        answers = [
            client.get("/readyz"),
            client.get("/api/predictions/matched?limit=5"),
            client.get("/api/predictions/matched?limit=5&user_id=3"),
        ]
    finally:
        close_app(web)
    pid, lock_timeout, kept = next_client(pooled_url)

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert server_connections(migrated_database_url) == [pid]
    assert (lock_timeout, kept) == ("0", [])
