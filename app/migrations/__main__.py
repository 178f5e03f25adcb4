"""Operator CLI for schema migrations: `python -m app.migrations status|apply`."""

from __future__ import annotations

import argparse
import json
import os
import sys

import psycopg

from app import migrations


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL"),
        help="postgresql:// URL (default: $DATABASE_URL)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(
        prog="python -m app.migrations",
        description="Show or apply schema migrations on the database named by "
        "DATABASE_URL (or --dsn). Exit 0 ok, 1 pending migrations (status), "
        "2 could not run.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", parents=[common], help="list applied and pending migrations")
    sub.add_parser("apply", parents=[common], help="apply every pending migration")
    return parser


def _status(dsn: str, as_json: bool) -> int:
    states = migrations.status(dsn)
    pending = [s.id for s in states if not s.applied]
    if as_json:
        print(json.dumps({"applied": [s.id for s in states if s.applied], "pending": pending}))
    else:
        for state in states:
            print(f"{'applied' if state.applied else 'pending'}  {state.id}")
    return 1 if pending else 0


def _apply(dsn: str, as_json: bool) -> int:
    applied = migrations.apply(dsn)
    if as_json:
        print(json.dumps({"applied": applied}))
    elif applied:
        for migration_id in applied:
            print(f"applied  {migration_id}")
    else:
        print("nothing to apply: the schema is up to date")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.dsn:
        print("error: no database given: set DATABASE_URL or pass --dsn", file=sys.stderr)
        return 2
    run = {"status": _status, "apply": _apply}[args.command]
    try:
        return run(args.dsn, args.json)
    except (psycopg.Error, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"error: {args.command} failed: {reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
