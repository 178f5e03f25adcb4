"""`python -m checks.monitor`: watch pool health, alert live, summarise at the end."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from types import FrameType
from typing import Any

from app import cli
from app.cli import positive_number
from checks import thresholds
from checks.dbconnect import MONITOR_DSN_ENV, CheckError, MissingGrant, NoFreeSlots
from checks.monitor import report, sources
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

    def emit(self, kind: str, text: str, **data: Any) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
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
        "summary at the end (also on Ctrl-C or SIGTERM). Thresholds and windows come from "
        "checks/thresholds.yml. Exit 0 nothing fired, 1 a trigger fired, 2 could not monitor.",
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
        "--interval", type=positive_number, metavar="S", help="seconds between samples (default 60)"
    )
    parser.add_argument(
        "--duration", type=positive_number, metavar="S", help="seconds to run (default 86400)"
    )
    parser.add_argument(
        "--thresholds", metavar="FILE", help="thresholds file (default: checks/thresholds.yml)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    return parser


def _default_urls() -> list[str]:
    """$GOALGPT_BASE_URL: one app host, or several separated by commas (as the smoke gate)."""
    raw = os.environ.get("GOALGPT_BASE_URL") or ""
    return [url.strip().rstrip("/") + "/metrics" for url in raw.split(",") if url.strip()]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    urls = args.metrics_url or _default_urls()
    dsn = args.dsn or os.environ.get(MONITOR_DSN_ENV) or os.environ.get("DATABASE_URL")
    try:
        limits = thresholds.load(args.thresholds).monitor
        if not urls and not dsn:
            raise CheckError("nothing to monitor: give --metrics-url and/or --dsn")
        db = _database(dsn)
    except (CheckError, thresholds.ThresholdsError) as exc:
        print(f"monitor failed: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN
    try:
        return _run(args, limits, urls, db)
    finally:
        if db is not None:
            db.close()


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
    urls: list[str],
    db: sources.Database | None,
) -> int:
    interval = args.interval or limits.interval_s
    duration = args.duration or limits.duration_s
    timeout = min(10.0, max(1.0, interval))
    out = Printer(args.json)
    stop = StopFlag()
    evaluator = Evaluator(limits)
    triggers = {metric: Trigger(metric) for metric in METRICS}
    summary = report.Summary(limits)
    read: set[str] = set()
    start = time.monotonic()
    while True:
        now = time.monotonic()
        sample = sources.read(urls, db, timeout)
        reading = evaluator.step(now, sample)
        read |= set(sample.scraped) | ({DATABASE_SOURCE} if sample.db_active is not None else set())
        summary.add(reading, len(sample.errors))
        for error in sample.errors:
            out.emit("error", f"⚠️ {error}", error=error)
        out.emit("sample", report.sample_line(reading), values=reading.values)
        for metric in METRICS:
            _update(out, triggers[metric], reading, limits)
        next_at = start + summary.samples * interval
        if next_at - start > duration + 1e-6 or stop.sleep_until(next_at):
            break
    summary.elapsed_s = time.monotonic() - start
    summary.stopped_by = stop.by
    given = urls + ([DATABASE_SOURCE] if db is not None else [])
    unread = [source for source in given if source not in read]
    not_monitored = _not_monitored(urls, db)
    data = summary.as_dict(triggers, evaluator.totals) | {
        "unread_sources": unread,
        "not_monitored": not_monitored,
    }
    text = summary.text(triggers, evaluator.totals)
    if not_monitored:
        text += "\nNot monitored (no source given): " + ", ".join(not_monitored)
    if unread:
        text += "\n❌ Never read during the run: " + ", ".join(unread)
    out.summary(data, text)
    if unread:
        print(f"monitor failed: never read: {', '.join(unread)}", file=sys.stderr)
        return EXIT_UNKNOWN
    return EXIT_FIRED if any(t.fired for t in triggers.values()) else EXIT_OK


def _not_monitored(urls: list[str], db: sources.Database | None) -> list[str]:
    missing = []
    if not urls:
        missing += ["max_clients_errors", "cache_hit_rate", "pool_waiting"]
    if db is None:
        missing.append("db_active_connections")
    return missing


def _update(out: Printer, trigger: Trigger, reading: Reading, limits: thresholds.Monitor) -> None:
    value = reading.values[trigger.metric]
    event = trigger.update(reading.breached[trigger.metric], value)
    if event == "fired":
        message = report.alert_message(trigger.metric, value, reading.pool_max, limits)
        trigger.first_message = trigger.first_message or message
        out.emit(
            "alert",
            message,
            metric=trigger.metric,
            value=value,
            action=report.action(trigger.metric, limits),
        )
    elif event == "resolved":
        label = report.LABELS[trigger.metric]
        out.emit(
            "resolved", f"✅ {label} back within threshold", metric=trigger.metric, value=value
        )


if __name__ == "__main__":
    cli.run(main)
