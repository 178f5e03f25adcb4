"""What every run mode prints: sample and alert lines, the summary, the exit status."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from checks import thresholds
from checks.monitor import report
from checks.monitor.triggers import Reading, Trigger

EXIT_OK, EXIT_FIRED, EXIT_UNKNOWN = 0, 1, 2


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


def failed(why: object) -> int:
    """One line on stderr saying why the run could not monitor; its exit status."""
    print(f"monitor failed: {why}", file=sys.stderr)
    return EXIT_UNKNOWN


def verdict(triggers: dict[str, Trigger]) -> int:
    return EXIT_FIRED if any(t.fired for t in triggers.values()) else EXIT_OK


def update(
    out: Printer,
    trigger: Trigger,
    reading: Reading,
    limits: thresholds.Monitor,
    at: float | None = None,
) -> None:
    """Feed `reading` to `trigger`; print an alert when it fires, a line when it resolves."""
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
