"""`python -m checks.capacity`: is it safe to raise the pool max? Exit 0 yes, 1 no, 2 unknown,
3 the judged pool max is above the recommendation (lower it)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from app import cli, config
from app.cli import whole_number
from app.infra.names import POOL_APPS
from checks import pgbouncer, thresholds
from checks.capacity import budget, decide, demand, pooler, render, stats
from checks.dbconnect import CheckError, NoFreeSlots, connect, monitor_dsn

EXIT_SAFE, EXIT_NOT_SAFE, EXIT_UNKNOWN, EXIT_ABOVE = 0, 1, 2, 3
EXIT_OF = {decide.SAFE: EXIT_SAFE, decide.NOT_SAFE: EXIT_NOT_SAFE, decide.ABOVE: EXIT_ABOVE}
DEFAULT_POOL_APPS = POOL_APPS
FLEET_FILE_ENV = "GOALGPT_FLEET_FILE"
DEFAULT_POOL_MAX: int = config.Settings.model_fields["DB_MAX_CONNECTIONS"].default


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checks.capacity",
        description="Check whether PostgreSQL can take a larger connection pool and "
        "recommend a per-process pool max for the fleet. Needs the pg_monitor role "
        "(the deployment's goalgpt_monitor). On a deployed host (bin/goalgpt-env) the fleet "
        "and the current pool come from the deployment. Exit 0 safe to raise, 1 not safe "
        "(including a refusal for lack of slots), 2 could not check, 3 the judged pool max "
        "(--pool-max, else the current one) is above the recommendation (lower it).",
    )
    parser.add_argument(
        "--dsn", help="postgresql:// URL (default: $GOALGPT_MONITOR_DSN, else $DATABASE_URL)"
    )
    parser.add_argument(
        "--web-processes",
        type=whole_number(1),
        metavar="N",
        help="judge a fleet of N web processes of unknown threads (each counted at its whole "
        f"pool) and no workers, instead of the deployment's (default: the fleet in "
        f"${FLEET_FILE_ENV}, else 1 web process)",
    )
    parser.add_argument(
        "--fleet",
        metavar="FILE",
        help=f"the deployment's fleet description (default: ${FLEET_FILE_ENV})",
    )
    parser.add_argument(
        "--pool-max",
        type=whole_number(1),
        metavar="N",
        help="judge this web pool max instead of the current one "
        "(default: $DB_MAX_CONNECTIONS, else the fleet's)",
    )
    parser.add_argument(
        "--pgbouncer-pool-size",
        type=whole_number(1),
        metavar="N",
        help="judge this PgBouncer default pool instead of the deployment's "
        "(only with PgBouncer in the fleet; raise_pool.yml -e pgbouncer_pool_size=N)",
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
        fleet, bouncers = _fleet(args)
        limits = thresholds.load(args.thresholds).capacity
        with connect(monitor_dsn(args.dsn)) as conn:
            db = stats.gather(conn, args.pool_application or DEFAULT_POOL_APPS, limits.slow_query_s)
    except NoFreeSlots as refusal:
        _print(args.json, render.refused_dict(str(refusal)), render.refused_text(str(refusal)))
        return EXIT_NOT_SAFE
    except (CheckError, config.ConfigError, thresholds.ThresholdsError) as exc:
        print(f"capacity check failed: {exc}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": str(exc)}))
        return EXIT_UNKNOWN
    asked = args.pool_max is not None
    if not bouncers:
        verdict = decide.decide(db, fleet, limits)
        _print(
            args.json,
            render.as_dict(db, verdict, fleet, limits, asked),
            render.text(db, verdict, fleet, limits, asked),
        )
        return EXIT_OF[verdict.verdict]
    verdict, layers = pooler.decide_through(db, fleet, bouncers, limits)
    seen, errors = pooler.read_all(pgbouncer.dsns())
    data = render.as_dict(db, verdict, fleet, limits, asked)
    data["pgbouncer"] = pooler.as_dict(layers, seen, errors)
    report = render.text(db, verdict, fleet, limits, asked) + pooler.text(layers, seen, errors)
    _print(args.json, data, report)
    return EXIT_OF[verdict.verdict]


def _fleet(args: argparse.Namespace) -> tuple[demand.Fleet, tuple[budget.Bouncer, ...]]:
    """The fleet being judged (--web-processes, else the deployment's, else one web process)
    and the PgBouncers in front of it (the deployment's, none without one)."""
    current = args.pool_max or _env_pool_max()
    if args.web_processes:
        return demand.single_pool(args.web_processes, current or DEFAULT_POOL_MAX), ()
    path = args.fleet or os.environ.get(FLEET_FILE_ENV)
    if not path:
        return demand.single_pool(1, current or DEFAULT_POOL_MAX), ()
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        fleet, bouncers = demand.from_dict(data), budget.bouncers_from(data)
    except OSError as exc:
        raise CheckError(f"cannot read the fleet description {path}: {exc.strerror}") from None
    except (ValueError, demand.FleetError) as exc:
        raise CheckError(f"the fleet description {path} is unusable: {exc}") from None
    if args.pgbouncer_pool_size:
        if not bouncers:
            raise CheckError(f"--pgbouncer-pool-size: the fleet in {path} has no PgBouncer")
        bouncers = pooler.with_pool_size(bouncers, args.pgbouncer_pool_size)
    return (fleet.with_web_pool(current) if current else fleet), bouncers


def _env_pool_max() -> int | None:
    """DB_MAX_CONNECTIONS when set (raise_pool writes it to the env file), within app.config's
    range. Only this variable: the probe never needs the app's DATABASE_URL."""
    text = os.environ.get("DB_MAX_CONNECTIONS")
    if not text:
        return None
    allowed = config.bounds("DB_MAX_CONNECTIONS")
    low, high = int(allowed["ge"]), int(allowed["le"])
    if not (text.strip().isdigit() and low <= int(text) <= high):
        raise config.ConfigError(
            f"invalid DB_MAX_CONNECTIONS={text!r}: a whole number {low}-{high}"
        )
    return int(text)


def _print(as_json: bool, data: dict, text: str) -> None:
    print(json.dumps(data) if as_json else text)


if __name__ == "__main__":
    cli.run(main)
