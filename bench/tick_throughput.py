"""Updates per second of a match-minute tick through the orchestrator, vs a naive loop.

Both sides do the same work per run, side by side in one process, alternating
so that noise on this shared machine hits both alike:

  orchestrated  `match_minute.tick()`: open the job context, take the fleet lock,
                select the due matches, then per match a Redis lock, one
                transaction (row lock, compare, UPDATE), release; record stats.
  naive         connect, select the same due matches, then one autocommitted
                `UPDATE ... SET minute` per row: no locks, no validation, no retries.

Usage: .venv/bin/python bench/tick_throughput.py [--batch 50] [--rounds 15]
Starts throwaway PostgreSQL and Redis servers unless --dsn and --redis-url are given.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import config, migrations
from app.jobs import match_minute
from tests.support.servers import PostgresServer, RedisServer


def load_matches(dsn: str, count: int) -> None:
    """`count` first-half matches kicked off 30 minutes ago with minute 1: all due."""
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        conn.execute("TRUNCATE predictions, ts_matches")
        with conn.cursor().copy(
            "COPY ts_matches (id, competition, home_team, away_team, kickoff_at, status,"
            " minute, updated_at) FROM STDIN"
        ) as copy:
            for n in range(count):
                copy.write_row(
                    (
                        f"bench{n:06}",
                        "Bench League",
                        "Home",
                        "Away",
                        now - timedelta(minutes=30),
                        "first_half",
                        1,
                        now - timedelta(seconds=n),
                    )
                )


def reset(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("UPDATE ts_matches SET minute = 1")


def naive_tick(dsn: str, batch: int) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        due = conn.execute(
            match_minute.DUE_MATCHES, {"now": datetime.now(UTC), "limit": batch}
        ).fetchall()
        for match_id, _status, minute in due:
            conn.execute(
                "UPDATE ts_matches SET minute = %s, updated_at = now() WHERE id = %s",
                (minute, match_id),
            )
    return len(due)


def orchestrated_tick(settings: config.Settings) -> int:
    summary = match_minute.tick(settings)
    return summary["updated"]


def measure(run: Callable[[], int], dsn: str, batch: int) -> float:
    reset(dsn)
    started = time.perf_counter()
    updated = run()
    elapsed = time.perf_counter() - started
    if updated != batch:
        raise SystemExit(f"error: a tick updated {updated} matches, expected {batch}")
    return updated / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=50, help="updates per tick (default 50)")
    parser.add_argument("--rounds", type=int, default=15, help="runs of each side (default 15)")
    parser.add_argument("--dsn", help="PostgreSQL URL to use (default: a throwaway server)")
    parser.add_argument("--redis-url", help="Redis URL to use (default: a throwaway server)")
    args = parser.parse_args(argv)

    servers = []
    if not (args.dsn and args.redis_url):
        servers = [PostgresServer().start(), RedisServer().start()]
    try:
        dsn = args.dsn or servers[0].url()
        redis_url = args.redis_url or servers[1].url
        migrations.apply(dsn)
        load_matches(dsn, args.batch * 4)
        settings = config.load(
            {
                "DATABASE_URL": dsn,
                "REDIS_URL": redis_url,
                "RQ_REDIS_URL": redis_url,
                "MATCH_MINUTE_BATCH_SIZE": str(args.batch),
                "MAX_UPDATES_PER_TICK": str(args.batch),
            }
        )
        sides = {
            "orchestrated": lambda: orchestrated_tick(settings),
            "naive": lambda: naive_tick(dsn, args.batch),
        }
        rates: dict[str, list[float]] = {name: [] for name in sides}
        measure(sides["orchestrated"], dsn, args.batch)  # warm-up: imports, first plans
        for round_no in range(args.rounds):
            order = list(sides) if round_no % 2 == 0 else list(reversed(sides))
            for name in order:
                rates[name].append(measure(sides[name], dsn, args.batch))
    finally:
        for server in servers:
            server.stop()

    medians = {name: statistics.median(values) for name, values in rates.items()}
    print(f"tick of {args.batch} updates, {args.rounds} rounds each, median updates/s:")
    for name, values in rates.items():
        print(
            f"  {name:<13} {medians[name]:8.0f}/s  (min {min(values):.0f}, max {max(values):.0f})"
        )
    ratio = medians["naive"] / medians["orchestrated"]
    print(f"naive / orchestrated = {ratio:.2f}x")
    per_update_ms = 1000 / medians["orchestrated"] - 1000 / medians["naive"]
    print(f"orchestrator cost per update: {per_update_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
