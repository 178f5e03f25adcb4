"""`python -m checks.monitor`: the options, then one of three runs.

The live run (`live`: /metrics, PostgreSQL and PgBouncer, or Prometheus's current
values), the report over Prometheus's history (`look_back`), or an earlier run
redrawn (`redraw`).
"""

from __future__ import annotations

import argparse

from app import cli
from app.cli import positive_number
from checks.monitor import history, live, look_back, redraw


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checks.monitor",
        description="Sample the app's /metrics and PostgreSQL every --interval seconds for "
        "--duration seconds, print an alert line when one of the four pool-health triggers "
        "fires and a summary at the end (also on Ctrl-C or SIGTERM). With --prometheus-url, "
        "the same report from Prometheus's history over --since instead, in seconds; with "
        "--prometheus-url and --duration, the live run with Prometheus's current values as "
        "its samples instead of /metrics and PostgreSQL. --report DIR also draws the run as "
        "DIR/pool-health.html; --from-json FILE --report DIR draws an earlier run from its "
        "--json lines. Thresholds and windows come from checks/thresholds.yml. Exit 0 nothing "
        "fired, 1 a trigger fired, 2 could not monitor (with --from-json: 0 report written, "
        "2 not).",
    )
    parser.add_argument(
        "--prometheus-url",
        metavar="URL",
        help="read this Prometheus instead of /metrics and PostgreSQL: the report over "
        "--since, or with --duration a live run sampling its current values",
    )
    parser.add_argument(
        "--since",
        type=_since,
        metavar="DURATION",
        help="with --prometheus-url: how far back, e.g. 10m, 24h, 7d (default 24h)",
    )
    parser.add_argument(
        "--metrics-url",
        action="append",
        metavar="URL",
        help="an app host's /metrics (repeat for each host; default: $GOALGPT_BASE_URL/metrics)",
    )
    parser.add_argument(
        "--dsn",
        help="postgresql:// URL for active connections "
        "(default: $GOALGPT_MONITOR_DSN, else $DATABASE_URL)",
    )
    parser.add_argument(
        "--pgbouncer-dsn",
        action="append",
        metavar="URL",
        help="a PgBouncer's console (database pgbouncer, a stats user) whose waiting clients "
        "count in the pool waiting queue (repeat for each; default: $GOALGPT_PGBOUNCER_DSN)",
    )
    parser.add_argument(
        "--interval",
        type=positive_number,
        metavar="S",
        help="seconds between samples (or history points) (default 60)",
    )
    parser.add_argument(
        "--duration",
        type=positive_number,
        metavar="S",
        help="seconds to run (default 86400; with --prometheus-url: watch live, not --since)",
    )
    parser.add_argument(
        "--thresholds", metavar="FILE", help="thresholds file (default: checks/thresholds.yml)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--report",
        metavar="DIR",
        help="also write DIR/pool-health.html (DIR made if need be): a static page with one "
        "chart per metric, its threshold line, where its trigger held shaded, and the "
        "summary's recommendations beside them (needs the project's `report` extra)",
    )
    parser.add_argument(
        "--from-json",
        metavar="FILE",
        help="with --report: draw the earlier live run whose --json lines are in FILE "
        "(raise_pool's watch keeps them) instead of reading any source",
    )
    return parser


_SOURCE_OPTIONS = (
    "--prometheus-url", "--since", "--metrics-url", "--dsn", "--pgbouncer-dsn", "--interval",
    "--duration", "--thresholds",
)  # fmt: skip


def _since(text: str) -> float:
    try:
        return history.parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.from_json:
        given = [o for o in _SOURCE_OPTIONS if getattr(args, o.lstrip("-").replace("-", "_"))]
        if given:
            parser.error(f"--from-json draws a recorded run: drop {', '.join(given)}")
        if not args.report:
            parser.error("--from-json draws a report: give --report DIR")
        return redraw.from_recording(args)
    if args.prometheus_url:
        if args.metrics_url or args.dsn or args.pgbouncer_dsn:
            parser.error(
                "--prometheus-url reads Prometheus: drop --metrics-url, --dsn and --pgbouncer-dsn"
            )
        if args.since and args.duration:
            parser.error("--since reports the past, --duration watches from now: give one")
        return live.from_prometheus(args) if args.duration else look_back.from_history(args)
    if args.since:
        parser.error("--since needs --prometheus-url")
    return live.from_sources(args)


if __name__ == "__main__":
    cli.run(main)
