"""One metric's chart as inline SVG, drawn by matplotlib (only the `report` extra has it).

The value as steps (a reading holds until the next one; gaps where nothing was
measured), the trigger's threshold as a dashed line, and each span where the
trigger held shaded. Artists carry ids a reader can find in the SVG:
`plot-area-M` (the axes' rectangle), `value-M`, `threshold-M`, `held-M-1`,
`held-M-2`...; the <svg> itself is `chart-M` with `data-x-range` (unix seconds)
and `data-y-range` (the metric's unit): what maps the plot area's pixels to data.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime

import matplotlib
from matplotlib import dates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from checks.monitor import inline_svg, report
from checks.monitor.timeline import Point
from checks.thresholds import Monitor

VALUE, THRESHOLD, HELD = "#1f5fa8", "#c0392b", "#e74c3c"
Y_LABELS = {
    "max_clients_errors": "errors",
    "cache_hit_rate": "% of requests",
    "db_active_connections": "connections",
    "pool_waiting": "requests waiting",
}
# Text stays <text> (small, selectable) rather than glyph outlines; a fixed salt
# makes the same data draw the same file.
_RC = {"svg.fonttype": "none", "svg.hashsalt": "goalgpt", "font.size": 9}
_NO_METADATA = dict.fromkeys(("Creator", "Date", "Format", "Type"))


def svg(
    metric: str,
    points: Sequence[Point],
    spans: Sequence[tuple[float, float]],
    limits: Monitor,
    start: float,
    end: float,
) -> str:
    """The chart of `metric` over [start, end] as an <svg> element for an HTML page."""
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(7.6, 2.7), layout="constrained")
        axes = figure.add_subplot()
        _draw(axes, metric, points, spans, limits, end)
        axes.set_xlim(_utc(start), _utc(end))
        axes.set_ylim(0, _top(metric, points, limits))
        _decorate(axes, metric, limits)
        x_range = [dates.num2date(x).timestamp() for x in axes.get_xlim()]
        y_range = axes.get_ylim()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata=_NO_METADATA)
    ids = {f"{kind}-{metric}" for kind in ("chart", "plot-area", "value", "threshold")}
    ids |= {f"held-{metric}-{i}" for i in range(1, len(spans) + 1)}
    root = {
        "id": f"chart-{metric}",
        "role": "img",
        "aria-label": report.title(metric, limits),
        "data-x-range": " ".join(f"{x:.3f}" for x in x_range),
        "data-y-range": " ".join(f"{y:.10g}" for y in y_range),
    }
    return inline_svg.inline(buffer.getvalue(), metric, ids, root)


def _draw(
    axes: Axes,
    metric: str,
    points: Sequence[Point],
    spans: Sequence[tuple[float, float]],
    limits: Monitor,
    end: float,
) -> None:
    axes.patch.set_gid(f"plot-area-{metric}")
    for number, (since, until) in enumerate(spans, 1):
        axes.axvspan(
            _utc(since),
            _utc(until),
            color=HELD,
            alpha=0.18,
            linewidth=0,
            gid=f"held-{metric}-{number}",
            label="trigger held" if number == 1 else "_nolegend_",
        )
    times = [_utc(at) for at, _ in points]
    values = [_number(reading.values[metric]) for _, reading in points]
    if points:  # the last reading holds to the range's end, as in the spans
        times.append(_utc(max(points[-1][0], end)))
        values.append(values[-1])
    axes.plot(times, values, drawstyle="steps-post", color=VALUE, linewidth=1.4,
              gid=f"value-{metric}", label="value")  # fmt: skip
    rule = report.trigger_value(metric, limits)
    sign = "<" if metric == "cache_hit_rate" else ">"
    axes.axhline(rule, color=THRESHOLD, linestyle="--", linewidth=1.2,
                 gid=f"threshold-{metric}", label=f"trigger {sign} {rule:g}")  # fmt: skip


def _decorate(axes: Axes, metric: str, limits: Monitor) -> None:
    axes.set_title(report.title(metric, limits), loc="left", fontsize=10)
    axes.set_ylabel(Y_LABELS[metric])
    axes.set_xlabel("UTC")
    locator = dates.AutoDateLocator(tz=UTC)
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=UTC))
    if metric != "cache_hit_rate":
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(color="#dddddd", linewidth=0.6)
    axes.legend(loc="lower right", bbox_to_anchor=(1, 1), fontsize=8, ncols=3, frameon=False)


def _top(metric: str, points: Sequence[Point], limits: Monitor) -> float:
    """Room above the highest value and the threshold."""
    if metric == "cache_hit_rate":
        return 105.0
    seen = [v for _, r in points if (v := r.values[metric]) is not None]
    return max([report.trigger_value(metric, limits), *seen]) * 1.2 + 1


def _number(value: float | None) -> float:
    return math.nan if value is None else value


def _utc(at: float) -> datetime:
    return datetime.fromtimestamp(at, UTC)
