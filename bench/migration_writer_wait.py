"""How long do writers wait behind the half-stats ALTER while a long reader holds the table?

Side by side on one throwaway PostgreSQL with ROWS matches, a writer updating
rows in a loop and a reader holding ts_matches for READER_HOLDS_S:
  naive   a plain ALTER TABLE, no lock_timeout (the original service's script)
  ours    `app.migrations.apply` (lock_timeout + retries, then CREATE INDEX CONCURRENTLY)
Prints the writer's longest wait for each, their ratio, and the time each
migration step took on ROWS rows (the figures docs/migrations.md quotes).

    .venv/bin/python bench/migration_writer_wait.py [--rows 1000000] [--hold 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import migrations
from tests.migrations.helpers import ClosesAfter, OpenTransaction, insert_matches
from tests.migrations.test_online_apply import Writer
from tests.support.servers import PostgresServer

NAIVE_ALTER = """ALTER TABLE ts_matches
    ADD COLUMN statistics_second_half jsonb, ADD COLUMN incidents_first_half jsonb,
    ADD COLUMN incidents_second_half jsonb, ADD COLUMN data_completeness jsonb
    DEFAULT '{"first_half": false, "second_half": false, "full_time": false}'"""


def naive(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(NAIVE_ALTER)


def undo_naive(url: str) -> None:
    rollback_sql = migrations.SQL_DIR / "0002_half_stats_columns.rollback.sql"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(rollback_sql.read_text())


def ours(url: str) -> None:
    migrations.apply(url, policy=migrations.LockPolicy(timeout_ms=500, retries=20))


def longest_write_wait(url: str, migrate, hold_s: float) -> tuple[float, float]:
    """(writer's longest statement, migration duration) with a reader holding hold_s."""
    writer = Writer(url, id_prefix=migrate.__name__)
    writer.start()
    while writer.updates < 20:
        if writer.error:
            raise writer.error
        time.sleep(0.01)
    writer.longest_s = 0.0
    reader = OpenTransaction(url, "SELECT count(*) FROM ts_matches WHERE id = 'm000000001'")
    ClosesAfter(reader, hold_s).start()
    started = time.monotonic()
    migrate(url)
    took = time.monotonic() - started
    time.sleep(0.2)
    writer.stop.set()
    writer.join()
    return writer.longest_s, took


def step_times(url: str) -> dict[str, float]:
    """Each migration alone, no load: rollback then apply one at a time."""
    times = {}
    for target in ("0002_half_stats_columns", "0003_half_stats_index"):
        started = time.monotonic()
        migrations.apply(url, target=target)
        times[target] = time.monotonic() - started
    started = time.monotonic()
    migrations.rollback(url)
    times["rollback (both)"] = time.monotonic() - started
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--hold", type=float, default=3.0, help="reader holds its lock (s)")
    args = parser.parse_args()
    server = PostgresServer().start()
    try:
        url = server.url()
        migrations.apply(url, target=migrations.BASELINE)
        started = time.monotonic()
        insert_matches(url, args.rows)
        print(f"built {args.rows} rows in {time.monotonic() - started:.1f} s")
        for name, seconds in step_times(url).items():
            print(f"{name:26} {seconds:6.2f} s on {args.rows} rows")
        naive_wait, _ = longest_write_wait(url, naive, args.hold)
        undo_naive(url)
        ours_wait, ours_took = longest_write_wait(url, ours, args.hold)
        print(f"reader holds ts_matches for {args.hold:.1f} s")
        print(f"naive ALTER: writer's longest wait {naive_wait:6.2f} s")
        print(f"ours:        writer's longest wait {ours_wait:6.2f} s (apply: {ours_took:.1f} s)")
        print(f"ratio naive/ours: {naive_wait / ours_wait:.1f}x")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
