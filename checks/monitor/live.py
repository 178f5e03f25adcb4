"""The live run: sample every --interval for --duration, alert as triggers fire, summarise.

The samples come from the app's /metrics, PostgreSQL and PgBouncer (`from_sources`)
or from what Prometheus scraped last (`from_prometheus`). Ctrl-C or SIGTERM ends
the run after its current sample, with the summary.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from app import cli
from checks import pgbouncer, thresholds
from checks.dbconnect import MONITOR_DSN_ENV, CheckError, MissingGrant, NoFreeSlots
from checks.monitor import current, drawing, history, report, sources
from checks.monitor.output import Printer, failed, update, verdict
from checks.monitor.report_file import ReportError
from checks.monitor.timeline import Point, Recording
from checks.monitor.triggers import METRICS, Evaluator, Trigger

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


def from_sources(args: argparse.Namespace) -> int:
    """The live run over the app hosts' /metrics, PostgreSQL and the PgBouncers."""
    urls = args.metrics_url or _default_urls()
    bouncers = pgbouncer.dsns(args.pgbouncer_dsn)
    dsn = args.dsn or os.environ.get(MONITOR_DSN_ENV) or os.environ.get("DATABASE_URL")
    try:
        limits = thresholds.load(args.thresholds).monitor
        target = drawing.target(args.report)
        if not urls and not dsn and not bouncers:
            raise CheckError("nothing to monitor: give --metrics-url, --dsn or --pgbouncer-dsn")
        db = _database(dsn)
    except (CheckError, thresholds.ThresholdsError, ReportError) as exc:
        return failed(exc)
    timeout = _timeout(args, limits)

    def read() -> tuple[sources.Sample, set[str]]:
        sample = sources.read(urls, db, timeout, bouncers)
        database = {DATABASE_SOURCE} if sample.db_active is not None else set()
        return sample, set(sample.scraped) | set(sample.bouncers) | database

    given = urls + [pgbouncer.source(d) for d in bouncers]
    given += [DATABASE_SOURCE] if db is not None else []
    try:
        return run(args, limits, read, given, _not_monitored(urls, db, bouncers), target)
    finally:
        if db is not None:
            db.close()


def from_prometheus(args: argparse.Namespace) -> int:
    """The live run, each sample being what Prometheus scraped last."""
    try:
        limits = thresholds.load(args.thresholds).monitor
        target = drawing.target(args.report)
    except (thresholds.ThresholdsError, ReportError) as exc:
        return failed(exc)
    prometheus = history.Prometheus(args.prometheus_url, _timeout(args, limits))
    now = current.PrometheusNow(prometheus, limits)
    return run(args, limits, now.read, now.given, [], target)


def _default_urls() -> list[str]:
    """$GOALGPT_BASE_URL: one app host, or several separated by commas (as the smoke gate)."""
    raw = os.environ.get("GOALGPT_BASE_URL") or ""
    return [url.strip().rstrip("/") + "/metrics" for url in raw.split(",") if url.strip()]


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


def _not_monitored(urls: list[str], db: sources.Database | None, bouncers: list[str]) -> list[str]:
    missing = []
    if not urls:
        missing += ["max_clients_errors", "cache_hit_rate"]
        missing += [] if bouncers else ["pool_waiting"]
    if db is None:
        missing.append("db_active_connections")
    return missing


def run(
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
            update(out, triggers[metric], reading, limits)
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
    failure = drawing.draw(target, recording)
    out.summary(data, text + (f"\nReport: {target}" if "report" in data else ""))
    if failure:
        return failed(failure)
    if unread:
        return failed(f"never read: {', '.join(unread)}")
    if stop.by == "SIGINT":
        return cli.INTERRUPTED_EXIT  # Ctrl-C: summary printed, then as every CLI (130)
    return verdict(triggers)
