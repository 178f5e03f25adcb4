"""A finished run read back from the lines its `--json` printed, to draw its report elsewhere.

raise_pool's watch samples on a fleet host, whose service venv has no charting
library; the controller keeps the watch's lines and draws them with
`python -m checks.monitor --from-json FILE --report DIR`. Each `sample` line
carries the values and which triggers held (`breached`, as the host's triggers
judged them); the closing `summary` line carries the thresholds the run applied.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from checks.monitor.report import STAMP
from checks.monitor.timeline import Point, Recording
from checks.monitor.triggers import METRICS, Reading
from checks.thresholds import ThresholdsError, monitor_from


class ReplayError(Exception):
    """The file is not a finished run's --json output; the message is one line."""


def read(path: Path) -> Recording:
    """The run recorded in `path`: its readings, summary and thresholds."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ReplayError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ReplayError(f"{path} is not text: give the lines of a --json run") from None
    events = [_event(path, number, line) for number, line in enumerate(lines, 1) if line.strip()]
    points = [_point(path, e) for e in events if e.get("type") == "sample"]
    summaries = [e for e in events if e.get("type") == "summary"]
    if not summaries:
        raise ReplayError(f"{path} has no summary line: the run did not finish")
    summary = summaries[-1]
    if not points:
        raise ReplayError(f"{path} has no sample lines: only a live run's --json can be replayed")
    try:
        limits = monitor_from(summary.get("thresholds"))
        start, end = _time(summary["start"]), _time(summary["end"])
    except (ThresholdsError, KeyError, ValueError, TypeError):
        raise ReplayError(
            f"{path}'s summary names no thresholds or range: written by an older monitor"
        ) from None
    return Recording(points, summary, limits, start, end, summary.get("sources") or [str(path)])


def _event(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        raise ReplayError(f"{path} line {number} is not a JSON object: did the run use --json?")
    return event


def _point(path: Path, event: dict[str, Any]) -> Point:
    try:
        breached = set(event["breached"])
        values = {m: event["values"][m] for m in METRICS}
        at = _time(event["time"])
    except (KeyError, TypeError, ValueError):
        raise ReplayError(
            f"{path}: a sample line without values, time or breached triggers: "
            "written by an older monitor"
        ) from None
    reading = Reading(values, {m: m in breached for m in METRICS}, event.get("pool_max"))
    return at, reading


def _time(stamp: str) -> float:
    return datetime.strptime(stamp, STAMP).replace(tzinfo=UTC).timestamp()
