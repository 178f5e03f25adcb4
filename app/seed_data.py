"""Load realistic matches and predictions with COPY: `python -m app.seed_data`.

Deterministic for a given `--seed` and `--now`. Everything is written in one
transaction, so a failed or interrupted run leaves the tables as they were.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import string
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from app import cli
from app.infra.errors import first_line

COMPETITIONS = [
    "Premier League",
    "La Liga",
    "Serie A",
    "Bundesliga",
    "Ligue 1",
    "Eredivisie",
    "Primeira Liga",
    "Super Lig",
    "MLS",
    "J1 League",
]
TEAMS = [
    f"{city} {suffix}"
    for city in ("North", "South", "East", "West", "Port", "Lake", "River", "Hill", "Bay", "Old")
    for suffix in ("United", "City", "Rovers", "Athletic", "Wanderers", "FC")
]
MARKETS = {"1x2": ("home", "draw", "away"), "over_2_5": ("over", "under"), "btts": ("yes", "no")}
LIVE_STATUSES = ("first_half", "half_time", "second_half")
ID_ALPHABET = string.ascii_lowercase + string.digits
PROGRESS_EVERY = 100_000

MATCH_COLUMNS = (
    "id",
    "competition",
    "home_team",
    "away_team",
    "kickoff_at",
    "second_half_started_at",
    "status",
    "minute",
    "home_score",
    "away_score",
    "statistics_first_half",
    "incidents",
    "updated_at",
)
PREDICTION_COLUMNS = ("match_id", "user_id", "market", "pick", "confidence", "status", "created_at")


@dataclass(frozen=True)
class Match:
    id: str
    kickoff_at: datetime
    status: str
    home_score: int
    away_score: int

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Match:
        """The fields predictions need, by column name, from a row of ts_matches."""
        return cls(*(row[field.name] for field in dataclasses.fields(cls)))


class SeedError(Exception):
    """The data cannot be loaded; the message is one line for the operator."""


def _match_id(rng: random.Random, taken: set[str]) -> str:
    while True:
        candidate = "".join(rng.choices(ID_ALPHABET, k=12))
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def _live_match(rng: random.Random, now: datetime) -> tuple[dict, datetime | None]:
    """A match in play whose stored minute lags the clock, so the tick has work."""
    status = rng.choice(LIVE_STATUSES)
    if status == "first_half":
        elapsed = rng.randint(2, 44)
        kickoff = now - timedelta(minutes=elapsed)
        second_half = None
    elif status == "half_time":
        kickoff = now - timedelta(minutes=rng.randint(47, 60))
        elapsed, second_half = 45, None
    else:
        second_elapsed = rng.randint(2, 44)
        second_half = now - timedelta(minutes=second_elapsed)
        kickoff = second_half - timedelta(minutes=rng.randint(60, 65))
        elapsed = 45 + second_elapsed
    lag = 0 if status == "half_time" else rng.randint(1, min(3, elapsed - 1))
    fields = {
        "status": status,
        "minute": elapsed - lag,
        "updated_at": now - timedelta(minutes=lag + 1),
    }
    return fields | {"kickoff_at": kickoff}, second_half


def generate_matches(rng: random.Random, count: int, live: int, now: datetime) -> Iterator[tuple]:
    taken: set[str] = set()
    for index in range(count):
        home, away = rng.sample(TEAMS, 2)
        second_half = None
        statistics = None
        incidents: list[dict] = []
        home_score = away_score = 0
        if index < live:
            fields, second_half = _live_match(rng, now)
            home_score, away_score = rng.randint(0, 2), rng.randint(0, 2)
        elif rng.random() < 0.6:
            kickoff = now - timedelta(minutes=rng.randint(130, 60 * 24 * 30))
            second_half = kickoff + timedelta(minutes=60)
            home_score, away_score = rng.randint(0, 4), rng.randint(0, 4)
            statistics = {
                "possession": [p := rng.randint(30, 70), 100 - p],
                "shots": [rng.randint(0, 12), rng.randint(0, 12)],
            }
            incidents = [
                {"type": "goal", "minute": rng.randint(1, 90), "team": "home"}
                for _ in range(home_score)
            ]
            fields = {
                "kickoff_at": kickoff,
                "status": "finished",
                "minute": 90,
                "updated_at": kickoff + timedelta(minutes=115),
            }
        else:
            kickoff = now + timedelta(minutes=rng.randint(10, 60 * 24 * 7))
            fields = {
                "kickoff_at": kickoff,
                "status": "scheduled",
                "minute": None,
                "updated_at": now - timedelta(days=1),
            }
        yield (
            _match_id(rng, taken),
            rng.choice(COMPETITIONS),
            home,
            away,
            fields["kickoff_at"],
            second_half,
            fields["status"],
            fields["minute"],
            home_score,
            away_score,
            json.dumps(statistics) if statistics else None,
            json.dumps(incidents),
            fields["updated_at"],
        )


def _outcome(rng: random.Random, match: Match) -> str:
    if match.status != "finished":
        return "pending"
    return rng.choices(("won", "lost", "void"), weights=(45, 50, 5))[0]


def generate_predictions(
    rng: random.Random, count: int, matches: list[Match], users: int
) -> Iterator[tuple]:
    for _ in range(count):
        match = rng.choice(matches)
        market = rng.choice(tuple(MARKETS))
        created = match.kickoff_at - timedelta(minutes=rng.randint(5, 72 * 60))
        yield (
            match.id,
            rng.randint(1, users),
            market,
            rng.choice(MARKETS[market]),
            rng.randint(35, 95),
            _outcome(rng, match),
            created,
        )


def _copy(
    cur: psycopg.Cursor,
    table: str,
    columns: tuple[str, ...],
    rows: Iterator[tuple],
    total: int,
    keep: list | None = None,
) -> None:
    started = time.monotonic()
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for done, row in enumerate(rows, 1):
            copy.write_row(row)
            if keep is not None:
                keep.append(Match.of(dict(zip(columns, row, strict=True))))
            if done % PROGRESS_EVERY == 0:
                _progress(f"{table}: {done:,}/{total:,} rows")
    _progress(f"{table}: {total:,} rows in {time.monotonic() - started:.1f}s")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _check_tables(cur: psycopg.Cursor, replace: bool) -> None:
    cur.execute("SELECT to_regclass('ts_matches'), to_regclass('predictions')")
    if None in cur.fetchone():
        raise SeedError("the schema is missing: run 'python -m app.migrations apply' first")
    if replace:
        cur.execute("TRUNCATE predictions, ts_matches")
        return
    cur.execute("SELECT EXISTS (SELECT FROM ts_matches) OR EXISTS (SELECT FROM predictions)")
    if cur.fetchone()[0]:
        raise SeedError(
            "ts_matches or predictions already hold rows: pass --replace to replace them"
        )


def load(
    database_url: str,
    *,
    matches: int,
    predictions: int,
    live: int,
    seed: int,
    now: datetime,
    users: int = 5000,
    replace: bool = False,
) -> None:
    """Load the data in one transaction; on any error nothing is written."""
    if live > matches:
        raise SeedError(f"--live {live} is more than --matches {matches}")
    if predictions and not matches:
        raise SeedError("predictions need matches: --matches must be at least 1")
    rng = random.Random(seed)
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        _check_tables(cur, replace)
        kept: list[Match] = []
        _copy(
            cur,
            "ts_matches",
            MATCH_COLUMNS,
            generate_matches(rng, matches, live, now),
            matches,
            keep=kept,
        )
        _copy(
            cur,
            "predictions",
            PREDICTION_COLUMNS,
            generate_predictions(rng, predictions, kept, users),
            predictions,
        )
        cur.execute("ANALYZE ts_matches")
        cur.execute("ANALYZE predictions")


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# The rows to generate: option, default, what it counts.
_COUNTS = (
    ("--matches", 10_000, "matches to create"),
    ("--predictions", 100_000, "predictions to create"),
    ("--live", 50, "matches in play now, minute behind the clock"),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.seed_data",
        description="Load generated matches and predictions into DATABASE_URL with COPY, "
        "in one transaction. Exit 0 loaded, 2 nothing loaded.",
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL"),
        help="postgresql:// URL, or - to read it from stdin (default: $DATABASE_URL)",
    )
    for option, default, what in _COUNTS:
        parser.add_argument(
            option, type=cli.whole_number(0), default=default, help=f"{what} (default {default})"
        )
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument(
        "--now",
        type=_timestamp,
        default=None,
        help="the time the data is generated around (default: now)",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="empty ts_matches and predictions first (same transaction)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.dsn == "-":  # how a playbook passes a password: never on a command line
        args.dsn = sys.stdin.readline().strip()
    if not args.dsn:
        print("error: no database given: set DATABASE_URL or pass --dsn", file=sys.stderr)
        return 2
    try:
        load(
            args.dsn,
            matches=args.matches,
            predictions=args.predictions,
            live=args.live,
            seed=args.seed,
            now=args.now or datetime.now(UTC),
            replace=args.replace,
        )
    except SeedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"error: nothing loaded: {first_line(exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    cli.run(main)
