"""Locks: a long reader, two runners, runs killed mid-way, yoyo's stale lock row."""

import json
import signal

import psycopg

from app import migrations
from app.migrations import half_stats
from tests.migrations.helpers import (
    HALF_STATS,
    OpenTransaction,
    column_names,
    create_index_progress,
    migration_sessions,
    run_cli,
    scalar,
    start_cli,
    wait_until,
    yoyo_lock_rows,
)

FAST_GIVE_UP = {"MIGRATION_LOCK_TIMEOUT_MS": "100", "MIGRATION_LOCK_RETRIES": "2"}


def _index_state(url: str) -> str:
    with psycopg.connect(url) as conn:
        return half_stats.index_state(conn)


def _waiting_for_old_snapshots(url: str) -> bool:
    progress = create_index_progress(url)
    return progress is not None and progress[1] == "waiting for old snapshots"


def _alter_waiting(url: str) -> bool:
    return any(query.startswith("ALTER TABLE") for _, _, query in migration_sessions(url))


def test_a_reader_holding_the_table_past_every_retry_makes_apply_give_up_whole(baseline_url):
    with OpenTransaction(baseline_url, "SELECT count(*) FROM ts_matches") as reader:
        result = run_cli("apply", dsn=baseline_url, **FAST_GIVE_UP)

        assert result.returncode == 1
        assert result.stderr.count("retrying in") == 2
        error = result.stderr.strip().splitlines()[-1]
        assert error.startswith(
            "error: apply blocked: apply of 0002_half_stats_columns could not take its table "
            "lock within 100 ms in 3 attempts and was rolled back whole; "
            f"oldest open transaction: pid {reader.pid} (long-reader, idle in transaction"
        )
        assert HALF_STATS.isdisjoint(column_names(baseline_url))
        assert yoyo_lock_rows(baseline_url) == 0
        status = json.loads(run_cli("status", "--json", dsn=baseline_url).stdout)
        assert status["pending"] == ["0002_half_stats_columns", "0003_half_stats_index"]

    again = run_cli("apply", dsn=baseline_url, **FAST_GIVE_UP)
    assert again.returncode == 0, again.stderr
    assert run_cli("verify", dsn=baseline_url).returncode == 0


def test_a_second_runner_refuses_while_the_first_builds_and_changes_nothing(baseline_url):
    migrations.apply(baseline_url, target="0002_half_stats_columns")
    log_rows = scalar(baseline_url, "SELECT count(*) FROM _yoyo_log")
    # An old snapshot keeps the first run's CREATE INDEX CONCURRENTLY waiting at its end.
    snapshot = OpenTransaction(
        baseline_url, "SELECT count(*) FROM predictions", isolation="REPEATABLE READ"
    )
    first = start_cli("apply", dsn=baseline_url)
    try:
        wait_until(lambda: _waiting_for_old_snapshots(baseline_url), "the first run's build")

        second = run_cli("apply", dsn=baseline_url)

        assert second.returncode == 1
        assert second.stderr.startswith(
            "error: apply blocked: another migration run holds the lock (backend pid "
        )
        assert second.stderr.count("\n") == 1
        assert scalar(baseline_url, "SELECT count(*) FROM _yoyo_log") == log_rows
    finally:
        snapshot.close()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert out == "applied  0003_half_stats_index\n"
    assert run_cli("verify", dsn=baseline_url).returncode == 0
    assert "nothing to apply" in run_cli("apply", dsn=baseline_url).stdout


def test_a_yoyo_lock_row_left_by_a_killed_run_is_cleared_and_named(baseline_url):
    with psycopg.connect(baseline_url) as conn:
        conn.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, '2026-01-01', 4242)")

    result = run_cli("apply", dsn=baseline_url)

    assert result.returncode == 0, result.stderr
    assert "cleared a stale yoyo_lock row left by a killed run (pid 4242" in result.stderr
    assert yoyo_lock_rows(baseline_url) == 0


def test_a_run_killed_while_its_alter_waits_leaves_nothing_and_the_next_run_completes(
    baseline_url,
):
    with OpenTransaction(baseline_url, "SELECT count(*) FROM ts_matches"):
        runner = start_cli("apply", dsn=baseline_url, MIGRATION_LOCK_TIMEOUT_MS="60000")
        wait_until(lambda: _alter_waiting(baseline_url), "the ALTER to wait for its lock")
        runner.kill()
        runner.wait()
        # The server notices the vanished client and ends the waiting ALTER by itself.
        wait_until(lambda: not migration_sessions(baseline_url), "the killed run's backends to end")

    assert HALF_STATS.isdisjoint(column_names(baseline_url))
    assert yoyo_lock_rows(baseline_url) == 1
    result = run_cli("apply", dsn=baseline_url)
    assert result.returncode == 0, result.stderr
    assert "cleared a stale yoyo_lock row" in result.stderr
    assert run_cli("verify", dsn=baseline_url).returncode == 0


def test_a_run_killed_during_create_index_concurrently_is_finished_by_the_next_run(baseline_url):
    migrations.apply(baseline_url, target="0002_half_stats_columns")
    with OpenTransaction(
        baseline_url, "SELECT count(*) FROM predictions", isolation="REPEATABLE READ"
    ):
        runner = start_cli("apply", dsn=baseline_url)
        wait_until(lambda: _waiting_for_old_snapshots(baseline_url), "the build to be under way")
        runner.kill()
        runner.wait()
        wait_until(lambda: not migration_sessions(baseline_url), "the killed run's backends to end")

    assert _index_state(baseline_url) == "invalid"
    check = run_cli("verify", dsn=baseline_url)
    assert check.returncode == 1
    assert "INVALID (an interrupted build): run apply again" in check.stdout
    result = run_cli("apply", dsn=baseline_url)
    assert result.returncode == 0, result.stderr
    assert "cleared a stale yoyo_lock row" in result.stderr
    assert "is INVALID (an interrupted build): dropping and rebuilding it" in result.stderr
    assert _index_state(baseline_url) == "valid"
    assert run_cli("verify", dsn=baseline_url).returncode == 0


def test_ctrl_c_during_the_build_is_one_line_and_the_next_run_finishes(baseline_url):
    migrations.apply(baseline_url, target="0002_half_stats_columns")
    with OpenTransaction(
        baseline_url, "SELECT count(*) FROM predictions", isolation="REPEATABLE READ"
    ):
        runner = start_cli("apply", dsn=baseline_url)
        wait_until(lambda: _waiting_for_old_snapshots(baseline_url), "the build to be under way")
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=60)

    assert runner.returncode == 130
    assert err.strip().splitlines()[-1] == (
        "error: apply interrupted: run it again to finish, every step is idempotent"
    )
    assert "Traceback" not in err
    assert yoyo_lock_rows(baseline_url) == 0
    result = run_cli("apply", dsn=baseline_url)
    assert result.returncode == 0, result.stderr
    assert run_cli("verify", dsn=baseline_url).returncode == 0
