"""The deployed database roles: the app, the schema owner and the monitoring role each
hold only the rights they use (roles/postgresql). Runs on the e2e deployment."""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qsl, urlsplit

import psycopg
import pytest
from psycopg import errors

from tests.support.deployment import Deployment, PlaybookRun
from tests.support.processes import run_module

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MARKER = "owner-session-marker-7f3a"


@pytest.fixture(scope="module")
def urls(first_deploy: PlaybookRun, deployment: Deployment) -> dict[str, str]:
    assert first_deploy.returncode == 0, first_deploy.tail()
    app = deployment.env()["DATABASE_URL"]
    monitor = deployment.checks_env()["GOALGPT_MONITOR_DSN"]
    assert same_url(monitor, deployment.role_url("monitor"))
    return {"app": app, "monitor": monitor, "owner": deployment.role_url("owner")}


def same_url(one: str, other: str) -> bool:
    """The same connection, whatever each URL's percent-encoding of its parameters."""
    a, b = urlsplit(one), urlsplit(other)
    return a._replace(query="") == b._replace(query="") and sorted(parse_qsl(a.query)) == sorted(
        parse_qsl(b.query)
    )


def passwords(deployment: Deployment) -> set[str]:
    return {deployment.secret(name) for name in ("db_app", "db_owner", "db_monitor")}


def test_three_distinct_roles_and_passwords(urls, first_deploy, deployment):
    users = {name: urlsplit(url).username for name, url in urls.items()}
    assert users == {"app": "goalgpt", "monitor": "goalgpt_monitor", "owner": "goalgpt_owner"}
    assert len(passwords(deployment)) == 3
    assert not any(p in first_deploy.output for p in passwords(deployment))


def test_the_owner_owns_every_table_and_nobody_else_is_in_pg_monitor(urls):
    with psycopg.connect(urls["owner"]) as conn:
        owners = {
            o
            for (o,) in conn.execute("SELECT tableowner FROM pg_tables WHERE schemaname = 'public'")
        }
        members = conn.execute(
            "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
            "WHERE m.roleid = 'pg_monitor'::regrole AND r.rolname LIKE 'goalgpt%'"
        ).fetchall()
    assert owners == {"goalgpt_owner"}
    assert members == [("goalgpt_monitor",)]


def test_the_app_role_reads_and_updates_but_cannot_drop_insert_or_create(urls):
    with psycopg.connect(urls["app"]) as conn:
        conn.execute("SELECT count(*) FROM predictions").fetchone()
        conn.execute("UPDATE ts_matches SET minute = minute WHERE false")
        conn.rollback()
        for statement in (
            "DROP TABLE predictions",
            "INSERT INTO predictions (match_id, user_id, market, pick, confidence) "
            "VALUES ('x', 1, 'btts', 'yes', 1)",
            "DELETE FROM ts_matches",
            "CREATE TABLE app_made (id int)",
            "TRUNCATE ts_matches",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement)
            conn.rollback()


def test_the_app_role_cannot_read_other_sessions_query_text(urls):
    with psycopg.connect(urls["owner"], autocommit=True) as other:
        other.execute(f"SELECT '{MARKER}'")
        with psycopg.connect(urls["app"]) as app:
            queries = [
                q
                for (q,) in app.execute(
                    "SELECT query FROM pg_stat_activity WHERE usename = 'goalgpt_owner'"
                )
            ]
    assert queries and all(q == "<insufficient privilege>" for q in queries), queries


def test_the_monitor_role_sees_every_session_but_reads_and_writes_nothing(urls):
    with psycopg.connect(urls["owner"], autocommit=True) as other:
        other.execute(f"SELECT '{MARKER}'")
        with psycopg.connect(urls["monitor"]) as monitor:
            seen = monitor.execute(
                "SELECT query FROM pg_stat_activity WHERE usename = 'goalgpt_owner'"
            ).fetchall()
            assert any(MARKER in q for (q,) in seen), seen
            for statement in (
                "SELECT * FROM ts_matches LIMIT 1",
                "UPDATE ts_matches SET minute = minute WHERE false",
                "CREATE TABLE monitor_made (id int)",
                "CREATE TEMP TABLE monitor_tmp (id int)",
            ):
                with pytest.raises(errors.InsufficientPrivilege):
                    monitor.execute(statement)
                monitor.rollback()


def test_the_monitor_role_runs_the_capacity_probe(urls):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "GOALGPT_MONITOR_DSN")}
    done = run_module("checks.capacity", "--dsn", urls["monitor"], "--json", env=env, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    assert "safe" in json.loads(done.stdout)


def test_only_the_monitoring_role_reads_pg_stat_statements_with_every_roles_queries(urls):
    marker = "statements-marker-5c1e"
    # A shape no other statement has: pg_stat_statements keeps the text first seen for
    # a shape (aliases and comments are not part of it), so `SELECT 1 AS marker` would
    # show the app's own earlier `SELECT 1`.
    with psycopg.connect(urls["app"]) as conn:
        conn.execute(
            f"/* {marker} */ SELECT count(*) FROM predictions WHERE user_id < -1 AND user_id > -3"
        ).fetchone()
        conn.rollback()
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM pg_stat_statements")
    with psycopg.connect(urls["monitor"]) as conn:
        (libraries,) = conn.execute("SHOW shared_preload_libraries").fetchone()
        texts = conn.execute(
            "SELECT query FROM pg_stat_statements WHERE query LIKE %s", [f"%{marker}%"]
        ).fetchall()
    assert "pg_stat_statements" in libraries
    # The app role's statement, its text shown (pg_monitor reads every role's).
    assert texts and all(marker in text for (text,) in texts), texts


def test_no_password_shows_even_with_vvv_and_pgpassword_is_never_used(second_deploy, deployment):
    run = second_deploy
    assert run.returncode == 0, run.tail()
    for password in passwords(deployment):
        assert password not in run.output
    assert "PGPASSWORD" not in run.output
