"""A run's readings over time, and where each trigger held as time spans.

A reading stands for the time from its own moment to the next reading's (the
range's end for the last one), so a span runs from the first breached reading of
a run to the first reading that is not. Nothing is decided here: `Reading.breached`
comes from `checks.monitor.triggers`, as for the alerts and the summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from checks.monitor.triggers import Reading
from checks.thresholds import Monitor

Point = tuple[float, Reading]  # (unix time, what the triggers made of that moment)


def held_spans(points: Sequence[Point], metric: str, end: float) -> list[tuple[float, float]]:
    """(from, to) in unix seconds for each run of readings where `metric`'s trigger held."""
    spans = []
    since: float | None = None
    for at, reading in points:
        if reading.breached[metric] and since is None:
            since = at
        elif not reading.breached[metric] and since is not None:
            spans.append((since, at))
            since = None
    if since is not None:
        spans.append((since, max(since, end)))
    return spans


@dataclass(frozen=True)
class Recording:
    """What a report draws: a run's readings over [start, end] and its summary."""

    points: list[Point]
    summary: dict[str, Any]  # report.Summary.as_dict()
    limits: Monitor
    start: float
    end: float
    sources: list[str]  # where the readings came from, for the reader
