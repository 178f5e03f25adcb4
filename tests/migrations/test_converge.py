"""`apply` converges half-stats columns that were there before 0002, then verifies."""

from __future__ import annotations

import json

import psycopg

from tests.migrations.helpers import run_cli


def test_data_completeness_added_by_hand_without_default_is_converged_then_verified(
    baseline_url,
):
    # What an operator chasing the seed's "column does not exist" error would run.
    with psycopg.connect(baseline_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE ts_matches ADD COLUMN data_completeness jsonb")

    applied = run_cli("apply", "--json", dsn=baseline_url)

    assert applied.returncode == 0, applied.stderr
    result = json.loads(applied.stdout)
    assert result["converged"] == ["set the default of ts_matches.data_completeness"]
    assert result["verified"] is True
    assert run_cli("verify", dsn=baseline_url).returncode == 0
    again = run_cli("apply", "--json", dsn=baseline_url)
    assert json.loads(again.stdout) == {"applied": [], "converged": [], "verified": True}


def test_a_wrong_default_on_a_migrated_database_is_put_right(baseline_url):
    assert run_cli("apply", dsn=baseline_url).returncode == 0
    with psycopg.connect(baseline_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE ts_matches ALTER COLUMN data_completeness SET DEFAULT '{}'")
    assert run_cli("verify", dsn=baseline_url).returncode == 1

    applied = run_cli("apply", dsn=baseline_url)

    assert applied.returncode == 0, applied.stderr
    assert "fixed    set the default of ts_matches.data_completeness" in applied.stdout
    assert run_cli("verify", dsn=baseline_url).returncode == 0


def test_a_wrong_type_is_refused_with_the_exact_fix_and_never_reported_applied(baseline_url):
    with psycopg.connect(baseline_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE ts_matches ADD COLUMN incidents_first_half text")

    applied = run_cli("apply", dsn=baseline_url)

    assert applied.returncode == 1
    assert applied.stderr.strip().splitlines()[-1] == (
        "error: apply cannot finish online: column ts_matches.incidents_first_half is text, "
        "expected jsonb; changing it rewrites the table under an exclusive lock, so apply does "
        "not do it online. In a maintenance window run: ALTER TABLE ts_matches ALTER COLUMN "
        "incidents_first_half TYPE jsonb USING incidents_first_half::jsonb; then apply again"
    )
    assert run_cli("verify", dsn=baseline_url).returncode == 1
