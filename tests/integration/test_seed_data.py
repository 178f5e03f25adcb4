"""The data generator: counts, live matches, determinism, all-or-nothing."""

import os
from datetime import UTC, datetime

import psycopg
import pytest

from app import seed_data
from tests.support.processes import run_module

NOW = datetime(2026, 5, 1, 18, 0, tzinfo=UTC)


@pytest.fixture
def empty_schema(migrated_database_url):
    with psycopg.connect(migrated_database_url) as conn:
        conn.execute("TRUNCATE predictions, ts_matches")
    return migrated_database_url


def _snapshot(dsn: str) -> tuple[list, list]:
    with psycopg.connect(dsn) as conn:
        matches = conn.execute("SELECT * FROM ts_matches ORDER BY id").fetchall()
        predictions = conn.execute(
            "SELECT match_id, user_id, market, pick, confidence, status, created_at "
            "FROM predictions ORDER BY id"
        ).fetchall()
    return matches, predictions


def test_loads_the_requested_counts_with_live_matches_behind_the_clock(empty_schema):
    seed_data.load(empty_schema, matches=500, predictions=5000, live=40, seed=3, now=NOW)
    with psycopg.connect(empty_schema) as conn:
        assert conn.execute("SELECT count(*) FROM ts_matches").fetchone()[0] == 500
        assert conn.execute("SELECT count(*) FROM predictions").fetchone()[0] == 5000
        live = conn.execute(
            "SELECT status, minute, kickoff_at, second_half_started_at FROM ts_matches "
            "WHERE status IN ('first_half', 'half_time', 'second_half')"
        ).fetchall()
    assert len(live) == 40
    for status, minute, kickoff, second_half in live:
        clock = (NOW - (second_half or kickoff)).total_seconds() // 60
        if status == "first_half":
            assert minute < clock + 1
        if status == "second_half":
            assert minute < 45 + clock + 1


def test_same_seed_gives_the_same_rows(empty_schema):
    seed_data.load(empty_schema, matches=200, predictions=2000, live=10, seed=9, now=NOW)
    first = _snapshot(empty_schema)
    seed_data.load(
        empty_schema, matches=200, predictions=2000, live=10, seed=9, now=NOW, replace=True
    )
    assert _snapshot(empty_schema) == first
    seed_data.load(
        empty_schema, matches=200, predictions=2000, live=10, seed=10, now=NOW, replace=True
    )
    assert _snapshot(empty_schema) != first


def test_refuses_to_mix_with_existing_rows(empty_schema):
    seed_data.load(empty_schema, matches=10, predictions=10, live=1, seed=1, now=NOW)
    with pytest.raises(seed_data.SeedError, match="--replace"):
        seed_data.load(empty_schema, matches=10, predictions=10, live=1, seed=1, now=NOW)


def test_a_failed_load_writes_nothing(empty_schema):
    seed_data.load(empty_schema, matches=50, predictions=100, live=5, seed=1, now=NOW)
    before = _snapshot(empty_schema)
    with pytest.raises(ValueError):
        # users=0 fails the prediction generator after TRUNCATE and the matches' COPY.
        seed_data.load(
            empty_schema,
            matches=50,
            predictions=100,
            live=5,
            seed=2,
            now=NOW,
            users=0,
            replace=True,
        )
    assert _snapshot(empty_schema) == before


def test_cli_reports_progress_and_rejects_bad_input(empty_schema):
    env = {**os.environ, "DATABASE_URL": empty_schema}
    ok = run_module(
        "app.seed_data",
        "--matches",
        "20",
        "--predictions",
        "50",
        "--live",
        "2",
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert "predictions: 50 rows" in ok.stderr
    bad = run_module("app.seed_data", "--matches", "-1", env=env)
    assert bad.returncode == 2
    assert "must be 0 or more" in bad.stderr
    assert "Traceback" not in bad.stderr
