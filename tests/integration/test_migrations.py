"""Schema migrations on a real PostgreSQL: apply, re-apply, status."""

import json
import os
import subprocess

import psycopg

from app import migrations
from tests.support.processes import run_module


def _cli(*args: str, dsn: str) -> subprocess.CompletedProcess:
    return run_module("app.migrations", *args, env={**os.environ, "DATABASE_URL": dsn})


def _tables(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {r[0] for r in rows}


def test_status_lists_pending_on_an_empty_database(database_url):
    result = _cli("status", "--json", dsn=database_url)
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "applied": [],
        "pending": ["0001_initial", "0002_half_stats_columns", "0003_half_stats_index"],
    }


def test_apply_creates_the_schema_then_changes_nothing(database_url):
    first = _cli("apply", dsn=database_url)
    assert first.returncode == 0, first.stderr
    assert "applied  0001_initial" in first.stdout
    assert {"ts_matches", "predictions"} <= _tables(database_url)

    second = _cli("apply", dsn=database_url)
    assert second.returncode == 0
    assert "nothing to apply" in second.stdout
    assert migrations.apply(database_url) == []


def test_status_lists_what_is_applied(database_url):
    migrations.apply(database_url)
    result = _cli("status", dsn=database_url)
    assert result.returncode == 0
    assert "applied  0001_initial" in result.stdout


def test_the_baseline_schema_has_no_half_stats_columns(database_url):
    migrations.apply(database_url)
    migrations.rollback(database_url, target="0001_initial")
    with psycopg.connect(database_url) as conn:
        columns = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'ts_matches'"
            )
        }
    assert "statistics_first_half" in columns
    assert "data_completeness" not in columns


def test_unreachable_database_is_one_line_exit_2():
    result = _cli("status", dsn="postgresql://nobody@127.0.0.1:1/none")
    assert result.returncode == 2
    assert result.stderr.startswith("error: status failed:")
    assert result.stderr.strip().count("\n") == 0


def test_no_database_given_is_one_line_exit_2():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = run_module("app.migrations", "status", env=env)
    assert result.returncode == 2
    assert "set DATABASE_URL" in result.stderr
