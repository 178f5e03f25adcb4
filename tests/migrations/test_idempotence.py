"""Apply twice, roll back and apply again, verify: the schema ends where it should."""

import json

import psycopg

from app import migrations
from app.migrations import half_stats
from tests.migrations.helpers import HALF_STATS, column_names, run_cli, scalar, schema

INDEX_OID = "SELECT to_regclass('idx_ts_matches_data_completeness')::oid"


def test_applying_twice_changes_nothing_the_second_time(baseline_url):
    first = run_cli("apply", dsn=baseline_url)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "applied  0002_half_stats_columns\napplied  0003_half_stats_index\n"
    before = schema(baseline_url), scalar(baseline_url, INDEX_OID)

    second = run_cli("apply", "--json", dsn=baseline_url)

    assert second.returncode == 0
    assert json.loads(second.stdout) == {"applied": [], "converged": [], "verified": True}
    assert (schema(baseline_url), scalar(baseline_url, INDEX_OID)) == before


def test_rollback_drops_index_and_columns_keeps_rows_and_apply_restores_the_same_schema(
    baseline_url,
):
    migrations.apply(baseline_url)
    applied = schema(baseline_url)

    result = run_cli("rollback", dsn=baseline_url)

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "rolled back  0003_half_stats_index\nrolled back  0002_half_stats_columns\n"
    )
    assert HALF_STATS.isdisjoint(column_names(baseline_url))
    assert scalar(baseline_url, INDEX_OID) is None
    assert scalar(baseline_url, "SELECT count(*) FROM ts_matches") == 1000
    assert run_cli("verify", dsn=baseline_url).returncode == 1
    assert run_cli("apply", dsn=baseline_url).returncode == 0
    assert schema(baseline_url) == applied


def test_rollback_with_nothing_after_the_target_says_so(baseline_url):
    result = run_cli("rollback", dsn=baseline_url)
    assert result.returncode == 0
    assert result.stdout == "nothing to roll back: nothing is applied after 0001_initial\n"


def test_rollback_to_an_unknown_migration_is_one_line_exit_2(baseline_url):
    result = run_cli("rollback", "--to", "0000_nothing", dsn=baseline_url)
    assert result.returncode == 2
    assert result.stderr.startswith("error: rollback failed: unknown migration '0000_nothing'")
    assert result.stderr.count("\n") == 1


def test_an_index_built_by_a_run_killed_before_recording_it_is_kept_not_rebuilt(baseline_url):
    migrations.apply(baseline_url, target="0002_half_stats_columns")
    with psycopg.connect(baseline_url, autocommit=True) as conn:
        conn.execute(
            "CREATE INDEX CONCURRENTLY idx_ts_matches_data_completeness "
            "ON ts_matches USING gin (data_completeness)"
        )
    built = scalar(baseline_url, INDEX_OID)

    result = run_cli("apply", dsn=baseline_url)

    assert result.returncode == 0, result.stderr
    assert "INVALID" not in result.stderr
    assert scalar(baseline_url, INDEX_OID) == built
    assert run_cli("verify", dsn=baseline_url).returncode == 0


def test_verify_passes_on_the_migrated_schema_and_lists_every_check(baseline_url):
    migrations.apply(baseline_url)

    result = run_cli("verify", "--json", dsn=baseline_url)

    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True
    names = [c["name"] for c in report["checks"]]
    assert names == [
        "migrations",
        *(f"column ts_matches.{c}" for c in half_stats.COLUMNS),
        "index idx_ts_matches_data_completeness",
    ]


def test_verify_names_a_wrong_default_a_wrong_type_and_a_missing_index(baseline_url):
    migrations.apply(baseline_url)
    with psycopg.connect(baseline_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE ts_matches ALTER COLUMN data_completeness SET DEFAULT '{}'")
        conn.execute("ALTER TABLE ts_matches ALTER COLUMN incidents_first_half TYPE text")
        conn.execute("DROP INDEX idx_ts_matches_data_completeness")

    result = run_cli("verify", dsn=baseline_url)

    assert result.returncode == 1
    failures = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert failures == [
        "FAIL  column ts_matches.incidents_first_half: type text, expected jsonb",
        "FAIL  column ts_matches.data_completeness: default '{}'::jsonb, expected "
        '{"first_half": false, "second_half": false, "full_time": false}',
        "FAIL  index idx_ts_matches_data_completeness: missing",
    ]


def test_verify_of_an_unreachable_database_is_one_line_exit_2():
    result = run_cli("verify", dsn="postgresql://nobody:secret@127.0.0.1:1/none")
    assert result.returncode == 2
    assert result.stderr.startswith("error: verify failed:")
    assert result.stderr.count("\n") == 1
    assert "secret" not in result.stderr


def test_a_bad_lock_timeout_setting_is_one_line_exit_2_and_touches_nothing(baseline_url):
    result = run_cli("apply", dsn=baseline_url, MIGRATION_LOCK_TIMEOUT_MS="0")
    assert result.returncode == 2
    assert result.stderr == (
        "error: config: invalid MIGRATION_LOCK_TIMEOUT_MS='0': "
        "must be a whole number from 10 to 60000\n"
    )
    assert HALF_STATS.isdisjoint(column_names(baseline_url))
