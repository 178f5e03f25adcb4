"""Locks: a long reader, two runners, runs killed mid-way, yoyo's stale lock row."""

import json
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from app import migrations
from app.migrations import half_stats
from tests.migrations.helpers import (
    HALF_STATS,
    OpenTransaction,
    alter_started,
    column_names,
    create_index_progress,
    migration_sessions,
    rerun_after_an_interrupted_build,
    run_cli,
    scalar,
    start_cli,
    yoyo_lock_rows,
)
from tests.support.waiting import wait_for

FAST_GIVE_UP = {"MIGRATION_LOCK_TIMEOUT_MS": "100", "MIGRATION_LOCK_RETRIES": "2"}


def _index_state(url: str) -> str:
    with psycopg.connect(url) as conn:
        return half_stats.index_state(conn)


def _waiting_for_old_snapshots(url: str) -> bool:
    progress = create_index_progress(url)
    return progress is not None and progress[1] == "waiting for old snapshots"


def kill(runner: subprocess.Popen, url: str) -> None:
    """SIGKILL a run; the server notices the vanished client and ends its backends."""
    runner.kill()
    runner.wait()
    wait_for(lambda: not migration_sessions(url), 60, "the killed run's backends to end")


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
        wait_for(lambda: _waiting_for_old_snapshots(baseline_url), 60, "the first run's build")

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
        wait_for(lambda: alter_started(baseline_url), 60, "the ALTER to wait for its lock")
        kill(runner, baseline_url)

    assert HALF_STATS.isdisjoint(column_names(baseline_url))
    assert yoyo_lock_rows(baseline_url) == 1
    result = run_cli("apply", dsn=baseline_url)
    assert result.returncode == 0, result.stderr
    assert "cleared a stale yoyo_lock row" in result.stderr
    assert run_cli("verify", dsn=baseline_url).returncode == 0


@contextmanager
def apply_during_the_build(url: str) -> Iterator[subprocess.Popen]:
    """`apply` of 0003 under way: its CREATE INDEX CONCURRENTLY waits for a reader's
    snapshot, which is held until the block ends."""
    migrations.apply(url, target="0002_half_stats_columns")
    with OpenTransaction(url, "SELECT count(*) FROM predictions", isolation="REPEATABLE READ"):
        runner = start_cli("apply", dsn=url)
        wait_for(lambda: _waiting_for_old_snapshots(url), 60, "the build to be under way")
        yield runner


def test_a_run_killed_during_create_index_concurrently_is_finished_by_the_next_run(baseline_url):
    with apply_during_the_build(baseline_url) as runner:
        kill(runner, baseline_url)

    assert _index_state(baseline_url) == "invalid"
    rerun = rerun_after_an_interrupted_build(baseline_url)
    assert "cleared a stale yoyo_lock row" in rerun
    assert _index_state(baseline_url) == "valid"
    assert run_cli("verify", dsn=baseline_url).returncode == 0


def test_ctrl_c_during_the_build_is_one_line_and_the_next_run_finishes(baseline_url):
    with apply_during_the_build(baseline_url) as runner:
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
