"""`python -m checks.capacity`: is it safe to raise the pool max? Exit 0 yes, 1 no, 2 unknown."""

from __future__ import annotations

import argparse
import json
import sys

from app import config
from app.cli import whole_number
from checks import thresholds
from checks.capacity import decide, render, stats
from checks.dbconnect import CheckError, NoFreeSlots, connect

EXIT_SAFE, EXIT_NOT_SAFE, EXIT_UNKNOWN = 0, 1, 2
DEFAULT_POOL_APPS = ("goalgpt-web", "goalgpt-worker")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checks.capacity",
        description="Check whether PostgreSQL can take a larger connection pool and "
        "recommend a per-process pool max. Needs the pg_monitor role (or superuser). "
        "Exit 0 safe to raise, 1 not safe (including a refusal for lack of slots), "
        "2 could not check.",
    )
    parser.add_argument("--dsn", help="postgresql:// URL (default: $DATABASE_URL)")
    parser.add_argument(
        "--pool-instances",
        type=whole_number(1),
        default=1,
        metavar="N",
        help="processes that each hold a pool (web workers + job workers); default 1",
    )
    parser.add_argument(
        "--pool-application",
        action="append",
        metavar="NAME",
        help="application_name of the pools being sized (repeatable; "
        f"default: {', '.join(DEFAULT_POOL_APPS)}); other connections shrink the budget",
    )
    parser.add_argument(
        "--thresholds", metavar="FILE", help="thresholds file (default: checks/thresholds.yml)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = config.load()
        limits = thresholds.load(args.thresholds).capacity
        with connect(args.dsn or settings.DATABASE_URL) as conn:
            db = stats.gather(conn, args.pool_application or DEFAULT_POOL_APPS, limits.slow_query_s)
    except NoFreeSlots as refusal:
        _print(args.json, render.refused_dict(str(refusal)), render.refused_text(str(refusal)))
        return EXIT_NOT_SAFE
    except (CheckError, config.ConfigError, thresholds.ThresholdsError) as exc:
        print(f"capacity check failed: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": str(exc)}))
        return EXIT_UNKNOWN
    current = settings.DB_MAX_CONNECTIONS
    verdict = decide.decide(db, args.pool_instances, current, limits)
    _print(
        args.json,
        render.as_dict(db, verdict, args.pool_instances, current),
        render.text(db, verdict, args.pool_instances, current),
    )
    return EXIT_SAFE if verdict.safe else EXIT_NOT_SAFE


def _print(as_json: bool, data: dict, text: str) -> None:
    print(json.dumps(data) if as_json else text)


if __name__ == "__main__":
    sys.exit(main())
