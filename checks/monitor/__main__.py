"""`python -m checks.monitor`: watch pool health, alert live, summarise at the end."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from app import cli
from app.cli import positive_number
from checks import pgbouncer, thresholds
from checks.dbconnect import MONITOR_DSN_ENV, CheckError, MissingGrant, NoFreeSlots
from checks.monitor import current, history, replay, report, report_file, sources
from checks.monitor.report_file import ReportError
from checks.monitor.timeline import Point, Recording
from checks.monitor.triggers import METRICS, Evaluator, Reading, Trigger

EXIT_OK, EXIT_FIRED, EXIT_UNKNOWN = 0, 1, 2
DATABASE_SOURCE = "PostgreSQL (pg_stat_activity)"


class StopFlag:
    """Set by SIGINT/SIGTERM; the loop finishes its sample, then prints the summary."""

    def __init__(self) -> None:
        self.by: str | None = None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.by = signal.Signals(signum).name

    def sleep_until(self, deadline: float) -> bool:
        """Sleep until `deadline` (monotonic); True when stopped meanwhile."""
        # Short slices: time.sleep resumes after a signal handler runs (PEP 475).
        while self.by is None and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))
        return self.by is not None


class Printer:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def emit(self, kind: str, text: str, at: float | None = None, **data: Any) -> None:
        stamp = report.stamp(time.time() if at is None else at)
        if self.as_json:
            print(json.dumps({"type": kind, "time": stamp, **data}), flush=True)
        else:
            print(f"[{stamp}] {text}", flush=True)

    def summary(self, data: dict[str, Any], text: str) -> None:
        print(json.dumps(data) if self.as_json else text, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checks.monitor",
        description="Sample the app's /metrics and PostgreSQL every --interval seconds for "
        "--duration seconds, print an alert line when one of the seed's triggers fires and a "
        "summary at the end (also on Ctrl-C or SIGTERM). With --prometheus-url, the same "
        "report from Prometheus's history over --since instead, in seconds; with "
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


def _default_urls() -> list[str]:
    """$GOALGPT_BASE_URL: one app host, or several separated by commas (as the smoke gate)."""
    raw = os.environ.get("GOALGPT_BASE_URL") or ""
    return [url.strip().rstrip("/") + "/metrics" for url in raw.split(",") if url.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.from_json:
        given = [o for o in _SOURCE_OPTIONS if getattr(args, o.lstrip("-").replace("-", "_"))]
        if given:
            parser.error(f"--from-json draws a recorded run: drop {', '.join(given)}")
        if not args.report:
            parser.error("--from-json draws a report: give --report DIR")
        return _from_recording(args)
    if args.prometheus_url:
        if args.metrics_url or args.dsn or args.pgbouncer_dsn:
            parser.error(
                "--prometheus-url reads Prometheus: drop --metrics-url, --dsn and --pgbouncer-dsn"
            )
        if args.since and args.duration:
            parser.error("--since reports the past, --duration watches from now: give one")
        return _from_prometheus(args) if args.duration else _from_history(args)
    if args.since:
        parser.error("--since needs --prometheus-url")
    urls = args.metrics_url or _default_urls()
    bouncers = pgbouncer.dsns(args.pgbouncer_dsn)
    dsn = args.dsn or os.environ.get(MONITOR_DSN_ENV) or os.environ.get("DATABASE_URL")
    try:
        limits = thresholds.load(args.thresholds).monitor
        target = _report_target(args)
        if not urls and not dsn and not bouncers:
            raise CheckError("nothing to monitor: give --metrics-url, --dsn or --pgbouncer-dsn")
        db = _database(dsn)
    except (CheckError, thresholds.ThresholdsError, ReportError) as exc:
        print(f"monitor failed: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    timeout = _timeout(args, limits)

    def read() -> tuple[sources.Sample, set[str]]:
        sample = sources.read(urls, db, timeout, bouncers)
        database = {DATABASE_SOURCE} if sample.db_active is not None else set()
        return sample, set(sample.scraped) | set(sample.bouncers) | database

    given = urls + [pgbouncer.source(d) for d in bouncers]
    given += [DATABASE_SOURCE] if db is not None else []
    try:
        return _run(args, limits, read, given, _not_monitored(urls, db, bouncers), target)
    finally:
        if db is not None:
            db.close()


def _from_prometheus(args: argparse.Namespace) -> int:
    """The live run, each sample being what Prometheus scraped last."""
    try:
        limits = thresholds.load(args.thresholds).monitor
        target = _report_target(args)
    except (thresholds.ThresholdsError, ReportError) as exc:
        print(f"monitor failed: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    prometheus = history.Prometheus(args.prometheus_url, _timeout(args, limits))
    now = current.PrometheusNow(prometheus, limits)
    return _run(args, limits, now.read, now.given, [], target)


def _timeout(args: argparse.Namespace, limits: thresholds.Monitor) -> float:
    """Seconds a source may take to answer: at most one interval, 1 to 10."""
    return min(10.0, max(1.0, args.interval or limits.interval_s))


def _database(dsn: str | None) -> sources.Database | None:
    """The DB source, refused up front when its role cannot see other sessions."""
    if not dsn:
        return None
    db = sources.Database(dsn)
    try:
        db.check_grant()
    except MissingGrant:
        raise
    except (CheckError, NoFreeSlots):
        pass  # down or full right now: each sample will say so
    return db


def _run(
    args: argparse.Namespace,
    limits: thresholds.Monitor,
    read_sources: Callable[[], tuple[sources.Sample, set[str]]],
    given: list[str],
    not_monitored: list[str],
    target: Path | None,
) -> int:
    """Sample every interval for the duration; `read_sources()` returns one sample and
    which of `given` answered. With a `target`, the run is drawn there at the end."""
    interval = args.interval or limits.interval_s
    duration = args.duration or limits.duration_s
    out = Printer(args.json)
    stop = StopFlag()
    evaluator = Evaluator(limits)
    triggers = {metric: Trigger(metric) for metric in METRICS}
    summary = report.Summary(limits)
    read: set[str] = set()
    points: list[Point] = []
    summary.start = time.time()
    start = time.monotonic()
    while True:
        now, at = time.monotonic(), time.time()
        sample, answered = read_sources()
        reading = evaluator.step(now, sample)
        points.append((at, reading))
        read |= answered
        summary.add(reading, len(sample.errors))
        for error in sample.errors:
            out.emit("error", f"⚠️ {error}", error=error)
        out.emit(
            "sample",
            report.sample_line(reading),
            at,
            values=reading.values,
            breached=[m for m in METRICS if reading.breached[m]],
            pool_max=reading.pool_max,
        )
        for metric in METRICS:
            _update(out, triggers[metric], reading, limits)
        next_at = start + summary.samples * interval
        if next_at - start > duration + 1e-6 or stop.sleep_until(next_at):
            break
    summary.elapsed_s = time.monotonic() - start
    summary.end = time.time()
    summary.stopped_by = stop.by
    unread = [source for source in given if source not in read]
    data = summary.as_dict(triggers, evaluator.totals) | {
        "sources": given,
        "unread_sources": unread,
        "not_monitored": not_monitored,
    }
    text = summary.text(triggers, evaluator.totals)
    if not_monitored:
        text += "\nNot monitored (no source given): " + ", ".join(not_monitored)
    if unread:
        text += "\n❌ Never read during the run: " + ", ".join(unread)
    recording = Recording(points, data, limits, summary.start, summary.end, given)
    failure = _draw(target, recording)
    out.summary(data, text + (f"\nReport: {target}" if "report" in data else ""))
    if failure:
        print(f"monitor failed: {failure}", file=sys.stderr)
        return EXIT_UNKNOWN
    if unread:
        print(f"monitor failed: never read: {', '.join(unread)}", file=sys.stderr)
        return EXIT_UNKNOWN
    if stop.by == "SIGINT":
        return cli.INTERRUPTED_EXIT  # Ctrl-C: summary printed, then as every CLI (130)
    return EXIT_FIRED if any(t.fired for t in triggers.values()) else EXIT_OK


def _not_monitored(urls: list[str], db: sources.Database | None, bouncers: list[str]) -> list[str]:
    missing = []
    if not urls:
        missing += ["max_clients_errors", "cache_hit_rate"]
        missing += [] if bouncers else ["pool_waiting"]
    if db is None:
        missing.append("db_active_connections")
    return missing


def _from_history(args: argparse.Namespace) -> int:
    """The report over Prometheus's history: alerts as they would have fired, the summary."""
    try:
        limits = thresholds.load(args.thresholds).monitor
        target = _report_target(args)
        since = args.since or limits.duration_s
        step = args.interval or limits.interval_s
        end = time.time()
        past = history.read(
            history.Prometheus(args.prometheus_url), limits, end - since, end, min(step, since)
        )
    except (thresholds.ThresholdsError, history.PrometheusError, ReportError) as exc:
        print(f"monitor failed: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    out = Printer(args.json)
    triggers = {metric: Trigger(metric) for metric in METRICS}
    summary = report.Summary(limits)
    for at, reading in past.points:
        summary.add(reading, 0)
        for metric in METRICS:
            _update(out, triggers[metric], reading, limits, at)
    summary.elapsed_s = since
    summary.start, summary.end = end - since, end
    data, text = summary.as_dict(triggers, past.totals), summary.text(triggers, past.totals)
    failure = None
    if past.has_data:
        source = f"Prometheus at {args.prometheus_url}"
        failure = _draw(target, Recording(past.points, data, limits, end - since, end, [source]))
    out.summary(data, text + (f"\nReport: {target}" if "report" in data else ""))
    if failure:
        print(f"monitor failed: {failure}", file=sys.stderr)
        return EXIT_UNKNOWN
    if not past.has_data:
        print(
            f"monitor failed: {args.prometheus_url} has no GoalGPT series in the last "
            f"{report.span(since)}: is it scraping the app and the postgres exporter?",
            file=sys.stderr,
        )
        return EXIT_UNKNOWN
    return EXIT_FIRED if any(t.fired for t in triggers.values()) else EXIT_OK


def _from_recording(args: argparse.Namespace) -> int:
    """--from-json FILE --report DIR: draw an earlier run from its --json lines."""
    try:
        target = report_file.check_target(Path(args.report))
        recording = replay.read(Path(args.from_json))
        report_file.write(target, _renderer()(recording))
    except (replay.ReplayError, ReportError) as exc:
        print(f"monitor failed: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    Printer(args.json).summary({"type": "report", "report": str(target)}, f"Report: {target}")
    return EXIT_OK


def _report_target(args: argparse.Namespace) -> Path | None:
    """Where --report writes, refused before any work if it cannot be written or drawn."""
    if args.report is None:
        return None
    target = report_file.check_target(Path(args.report))
    _renderer()
    return target


def _renderer() -> Callable[[Recording], str]:
    """The page's renderer; matplotlib is there only with the project's `report` extra."""
    try:  # imported here: the hosts' service venv runs the monitor without matplotlib
        from checks.monitor import html_report
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        raise ReportError(
            "--report needs matplotlib, which this Python lacks: install the project's "
            "`report` extra (pip install -c constraints.txt '.[report]'; make venv does)"
        ) from None
    return html_report.render


def _draw(target: Path | None, recording: Recording) -> str | None:
    """Write the report when asked (the summary then names it); None, or why it failed."""
    if target is None:
        return None
    try:
        report_file.write(target, _renderer()(recording))
    except ReportError as exc:
        return str(exc)
    recording.summary["report"] = str(target)
    return None


def _update(
    out: Printer,
    trigger: Trigger,
    reading: Reading,
    limits: thresholds.Monitor,
    at: float | None = None,
) -> None:
    value = reading.values[trigger.metric]
    event = trigger.update(reading.breached[trigger.metric], value)
    if event == "fired":
        message = report.alert_message(trigger.metric, value, reading.pool_max, limits)
        trigger.first_message = trigger.first_message or message
        out.emit(
            "alert",
            message,
            at,
            metric=trigger.metric,
            value=value,
            action=report.action(trigger.metric, limits),
        )
    elif event == "resolved":
        label = report.LABELS[trigger.metric]
        out.emit(
            "resolved",
            f"✅ {label} back within threshold",
            at,
            metric=trigger.metric,
            value=value,
        )


if __name__ == "__main__":
    cli.run(main)
