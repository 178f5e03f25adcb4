"""The report over Prometheus's history (`--prometheus-url`, `--since`): in seconds, the
alerts as they would have fired, with their times, and the summary of the span."""

from __future__ import annotations

import argparse
import time

from checks import thresholds
from checks.monitor import drawing, history, report
from checks.monitor.output import Printer, failed, update, verdict
from checks.monitor.report_file import ReportError
from checks.monitor.timeline import Recording
from checks.monitor.triggers import METRICS, Trigger


def from_history(args: argparse.Namespace) -> int:
    """The report over Prometheus's history: alerts as they would have fired, the summary."""
    try:
        limits = thresholds.load(args.thresholds).monitor
        target = drawing.target(args.report)
        since = args.since or limits.duration_s
        step = args.interval or limits.interval_s
        end = time.time()
        past = history.read(
            history.Prometheus(args.prometheus_url), limits, end - since, end, min(step, since)
        )
    except (thresholds.ThresholdsError, history.PrometheusError, ReportError) as exc:
        return failed(exc)
    out = Printer(args.json)
    triggers = {metric: Trigger(metric) for metric in METRICS}
    summary = report.Summary(limits)
    for at, reading in past.points:
        summary.add(reading, 0)
        for metric in METRICS:
            update(out, triggers[metric], reading, limits, at)
    summary.elapsed_s = since
    summary.start, summary.end = end - since, end
    data, text = summary.as_dict(triggers, past.totals), summary.text(triggers, past.totals)
    failure = None
    if past.has_data:
        source = f"Prometheus at {args.prometheus_url}"
        recording = Recording(past.points, data, limits, end - since, end, [source])
        failure = drawing.draw(target, recording)
    out.summary(data, text + (f"\nReport: {target}" if "report" in data else ""))
    if failure:
        return failed(failure)
    if not past.has_data:
        return failed(
            f"{args.prometheus_url} has no GoalGPT series in the last "
            f"{report.span(since)}: is it scraping the app and the postgres exporter?"
        )
    return verdict(triggers)
