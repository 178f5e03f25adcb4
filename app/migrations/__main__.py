"""Operator CLI for schema migrations: `python -m app.migrations status|apply|rollback|verify`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable

import psycopg
import yoyo.exceptions

from app import cli, config, migrations
from app.infra.errors import first_line
from app.migrations import converge, verify

YOYO_ERRORS = (yoyo.exceptions.LockTimeout, yoyo.exceptions.BadMigration)
EXIT_CODES = """exit codes:
  status    0 up to date, 1 migrations pending, 2 could not check
  apply     0 applied (or nothing to do), 1 blocked: another run, or a table lock not
            granted after the retries; nothing half-done, run again later; 2 failed
  rollback  as apply
  verify    0 schema as expected, 1 not, 2 could not check
  any       130 interrupted (Ctrl-C)

MIGRATION_LOCK_TIMEOUT_MS and MIGRATION_LOCK_RETRIES (environment) bound how long
apply/rollback wait for a table lock."""


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL"),
        help="postgresql:// URL, or - to read it from stdin (keeps it off command lines "
        "and environment dumps; default: $DATABASE_URL)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(
        prog="python -m app.migrations",
        description="Show, apply, roll back or verify the schema migrations of the "
        "database named by DATABASE_URL (or --dsn).",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status", parents=[common], help="list applied and pending migrations")
    apply = sub.add_parser("apply", parents=[common], help="apply every pending migration")
    apply.add_argument("--to", metavar="ID", help="stop after this migration (default: all)")
    rollback = sub.add_parser(
        "rollback", parents=[common], help="roll back the migrations after --to"
    )
    rollback.add_argument(
        "--to",
        metavar="ID",
        default=migrations.BASELINE,
        help=f"keep this one and those before it (default: {migrations.BASELINE}, "
        "the baseline, which is never rolled back)",
    )
    sub.add_parser("verify", parents=[common], help="check columns, default and index")
    return parser


def _status(args: argparse.Namespace) -> int:
    states = migrations.status(args.dsn)
    pending = [s.id for s in states if not s.applied]
    if args.json:
        print(json.dumps({"applied": [s.id for s in states if s.applied], "pending": pending}))
    else:
        for state in states:
            print(f"{'applied' if state.applied else 'pending'}  {state.id}")
    return 1 if pending else 0


def _policy() -> migrations.LockPolicy:
    settings = config.load()
    return migrations.LockPolicy(
        timeout_ms=settings.MIGRATION_LOCK_TIMEOUT_MS, retries=settings.MIGRATION_LOCK_RETRIES
    )


def _apply(args: argparse.Namespace) -> int:
    """Apply, converge what 0002 found already there, then verify before saying so."""
    policy = _policy()
    applied = migrations.apply(args.dsn, target=args.to, policy=policy)
    converged = converge.converge(args.dsn, policy.timeout_ms)
    failed = [] if args.to else [c for c in verify.verify(args.dsn) if not c.ok]
    if args.json:
        print(json.dumps({"applied": applied, "converged": converged, "verified": not failed}))
    else:
        for migration_id in applied:
            print(f"applied  {migration_id}")
        for fix in converged:
            print(f"fixed    {fix}")
        if not (applied or converged):
            print("nothing to apply: the schema is up to date")
    for check in failed:
        print(f"error: apply done but verify fails: {check.name}: {check.detail}", file=sys.stderr)
    return 1 if failed else 0


def _rollback(args: argparse.Namespace) -> int:
    rolled_back = migrations.rollback(args.dsn, target=args.to, policy=_policy())
    if args.json:
        print(json.dumps({"rolled_back": rolled_back}))
    elif rolled_back:
        for migration_id in rolled_back:
            print(f"rolled back  {migration_id}")
    else:
        print(f"nothing to roll back: nothing is applied after {args.to}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    checks = verify.verify(args.dsn)
    ok = all(c.ok for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [c.__dict__ for c in checks]}))
    else:
        for check in checks:
            print(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
    return 0 if ok else 1


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": _status,
    "apply": _apply,
    "rollback": _rollback,
    "verify": _verify,
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.dsn == "-":
        args.dsn = sys.stdin.readline().strip()
    if not args.dsn:
        print("error: no database given: set DATABASE_URL or pass --dsn", file=sys.stderr)
        return 2
    # Progress and warnings go to stderr, one line each; results to stdout.
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logging.getLogger("app.migrations").setLevel(logging.INFO)
    # yoyo logs failures with tracebacks; the one-line error below says it all.
    logging.getLogger("yoyo").setLevel(logging.CRITICAL)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print(
            f"error: {args.command} interrupted: run it again to finish, every step is idempotent",
            file=sys.stderr,
        )
        return 130
    except converge.CannotConverge as exc:
        print(f"error: {args.command} cannot finish online: {exc}", file=sys.stderr)
        return 1
    except migrations.MigrationBlocked as exc:
        print(f"error: {args.command} blocked: {first_line(exc)}", file=sys.stderr)
        return 1
    except config.ConfigError as exc:
        print(f"error: config: {first_line(exc)}", file=sys.stderr)
        return 2
    except (psycopg.Error, ValueError, *YOYO_ERRORS) as exc:
        print(f"error: {args.command} failed: {first_line(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    cli.run(main)
