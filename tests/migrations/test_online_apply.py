"""The half-stats migration on a 1M-row ts_matches that is being written to."""

from __future__ import annotations

import random
import threading
import time

import psycopg
import pytest

from app import migrations
from app.migrations import half_stats
from tests.migrations.helpers import (
    ClosesAfter,
    OpenTransaction,
    alter_started,
    create_index_progress,
    insert_matches,
    rerun_after_an_interrupted_build,
    run_cli,
    scalar,
    start_cli,
    yoyo_lock_rows,
)
from tests.support.databases import create_database, drop_database
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

ROWS = 1_000_000
LOCK_TIMEOUT_MS = 500
# From when the ALTER meets it, the reader holds its lock well past lock_timeout +
# margin: a writer queued behind an ALTER without lock_timeout would wait the
# reader's whole 3 s.
READER_HOLDS_S = 3.0
WRITE_WAIT_MARGIN_S = 1.0


@pytest.fixture(scope="module")
def big_url(pg_server):
    """One database per module with 1M matches at the baseline schema."""
    name = create_database(pg_server)
    url = pg_server.url(name)
    migrations.apply(url, target=migrations.BASELINE)
    insert_matches(url, ROWS)
    yield url
    drop_database(pg_server, name)


@pytest.fixture
def at_baseline(big_url: str) -> str:
    migrations.rollback(big_url)
    return big_url


class Writer(threading.Thread):
    """Writes in a loop as the jobs do: one short transaction per statement, each timed."""

    def __init__(self, dsn: str, id_prefix: str = "w"):
        super().__init__(daemon=True)
        self.dsn, self.id_prefix = dsn, id_prefix
        self.stop = threading.Event()
        self.updates = 0
        self.inserts = 0
        self.longest_s = 0.0
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(5)
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop.is_set():
                    started = time.monotonic()
                    self._write(conn, rng)
                    self.longest_s = max(self.longest_s, time.monotonic() - started)
        except BaseException as exc:
            self.error = exc

    def _write(self, conn: psycopg.Connection, rng: random.Random) -> None:
        if rng.random() < 0.1:
            self.inserts += 1
            conn.execute(
                "INSERT INTO ts_matches (id, competition, home_team, away_team, kickoff_at) "
                "VALUES (%s, 'Serie A', 'Lake FC', 'Bay City', now())",
                (f"{self.id_prefix}{self.inserts:09d}",),
            )
        else:
            conn.execute(
                "UPDATE ts_matches SET home_score = home_score + 1, updated_at = now() "
                "WHERE id = %s",
                (f"m{rng.randint(1, ROWS):09d}",),
            )
            self.updates += 1


def _totals(url: str) -> tuple[int, int]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*), sum(home_score) FROM ts_matches").fetchone()


def test_on_1m_rows_with_a_writer_and_a_long_reader_no_write_waits_past_lock_timeout(at_baseline):
    rows_before, score_before = _totals(at_baseline)
    writer = Writer(at_baseline)
    writer.start()
    wait_for(lambda: writer.updates > 20, 60, "the writer to be writing")
    reader = OpenTransaction(at_baseline, "SELECT count(*) FROM ts_matches WHERE id = 'm000000001'")
    ClosesAfter(reader, lambda: alter_started(at_baseline), READER_HOLDS_S).start()
    updates_before = writer.updates

    result = run_cli(
        "apply",
        dsn=at_baseline,
        MIGRATION_LOCK_TIMEOUT_MS=str(LOCK_TIMEOUT_MS),
        MIGRATION_LOCK_RETRIES="10",
    )
    updates_during = writer.updates - updates_before
    writer.stop.set()
    writer.join(timeout=30)

    assert result.returncode == 0, result.stderr
    assert "0002_half_stats_columns: lock not granted within 500 ms" in result.stderr
    assert writer.error is None
    assert updates_during > 50
    assert writer.longest_s < LOCK_TIMEOUT_MS / 1000 + WRITE_WAIT_MARGIN_S
    assert run_cli("verify", dsn=at_baseline).returncode == 0
    rows_after, score_after = _totals(at_baseline)
    assert rows_after == rows_before + writer.inserts
    assert score_after == score_before + writer.updates
    with_default = scalar(
        at_baseline,
        "SELECT count(*) FROM ts_matches WHERE data_completeness = %s::jsonb",
        (psycopg.types.json.Jsonb(half_stats.DATA_COMPLETENESS_DEFAULT),),
    )
    assert with_default == rows_after


def _building(url: str) -> int | None:
    progress = create_index_progress(url)
    if progress and progress[1].startswith("building index"):
        return progress[0]
    return None


def test_on_1m_rows_a_build_terminated_midway_is_dropped_and_rebuilt_by_the_rerun(at_baseline):
    migrations.apply(at_baseline, target="0002_half_stats_columns")
    runner = start_cli("apply", dsn=at_baseline)
    builder = wait_for(lambda: _building(at_baseline), 60, "the index build to start")

    scalar(at_baseline, "SELECT pg_terminate_backend(%s)", (builder,))
    _, err = runner.communicate(timeout=120)

    assert runner.returncode == 2
    assert err.strip().splitlines()[-1].startswith("error: apply failed: ")
    assert yoyo_lock_rows(at_baseline) == 0
    rerun_after_an_interrupted_build(at_baseline)
    assert run_cli("verify", dsn=at_baseline).returncode == 0
