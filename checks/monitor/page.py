"""The report's HTML page: one section per metric, its chart beside what the summary says.

Self-contained on purpose: the charts are inline <svg>, the style an inline
<style>, no script, no link or image to fetch, so the file reads the same in
any browser, offline, attached to an incident.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from checks.monitor import report
from checks.monitor.timeline import Recording
from checks.monitor.triggers import METRICS
from checks.thresholds import Monitor

_SCHEME = re.compile(r"\b[a-z][a-z0-9+.-]*://", re.IGNORECASE)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 90em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
section { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start;
  border-top: 1px solid #ccc; padding: 1em 0; }
figure { margin: 0; flex: 1 1 34em; }
figure svg { width: 100%; height: auto; }
aside { flex: 0 1 26em; }
aside h2 { font-size: 1.1em; margin: 0 0 0.4em; }
table { border-collapse: collapse; margin: 0.4em 0; }
th, td { padding: 0.1em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; padding-left: 0; }
.fired { color: #a61b0f; font-weight: 600; }
.ok { color: #1d6b2f; }
.action { background: #fdf1ef; border-left: 4px solid #c0392b; padding: 0.4em 0.6em; }
.note { color: #666; font-size: 0.9em; }
"""


def html(
    recording: Recording,
    charts: Mapping[str, str],
    spans: Mapping[str, Sequence[tuple[float, float]]],
) -> str:
    """The whole page; `charts` and `spans` by metric name."""
    summary = recording.summary
    fired = {f["metric"]: f for f in summary["fired"]}
    period = f"{_moment(recording.start)} to {_moment(recording.end)} UTC"
    sections = "\n".join(
        _section(metric, recording, charts[metric], spans[metric], fired.get(metric))
        for metric in METRICS
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GoalGPT pool health, {escape(period)}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>GoalGPT pool health</h1>
<p>{escape(period)} ({escape(report.span(round(recording.end - recording.start)))}):
{len(recording.points)} readings from {escape(_sources(recording.sources))}.</p>
<p>{_verdict(summary, recording.limits)}</p>
<p class="note">{_totals(summary)} Shaded: where a trigger held. Thresholds from the
monitor's thresholds file (checks/thresholds.yml unless the run gave another).</p>
</header>
{sections}
<footer class="note"><p>Written by <code>python -m checks.monitor --report</code>
at {escape(_moment(datetime.now(UTC).timestamp()))} UTC.</p></footer>
</body>
</html>
"""


def _section(
    metric: str,
    recording: Recording,
    chart: str,
    spans: Sequence[tuple[float, float]],
    fired: dict[str, Any] | None,
) -> str:
    limits = recording.limits
    label = escape(report.title(metric, limits))
    return f"""<section id="{metric}">
<figure>{chart}</figure>
<aside>
<h2>{label}</h2>
<p>Target {escape(report.target(metric, limits))}</p>
{_stats(metric, recording.summary["metrics"][metric])}
{_outcome(fired, spans)}
</aside>
</section>"""


def _stats(metric: str, stats: dict[str, Any]) -> str:
    unit = "%" if metric == "cache_hit_rate" else ""
    cells = "".join(f"<td>{_value(stats[k], unit)}</td>" for k in ("min", "avg", "max"))
    return (
        "<table><tr><th>readings</th><th>min</th><th>avg</th><th>max</th></tr>"
        f"<tr><td>{stats['samples']}</td>{cells}</tr></table>"
    )


def _outcome(fired: dict[str, Any] | None, spans: Sequence[tuple[float, float]]) -> str:
    if fired is None:
        return '<p class="ok">Within its threshold over the whole range.</p>'
    held = ", ".join(f"{_moment(a, short=True)} to {_moment(b, short=True)}" for a, b in spans)
    return (
        f'<p class="fired">{escape(fired["message"])}: fired {fired["times"]} time(s)'
        f", worst {_value(fired['worst'])}.</p>\n"
        f"<p>Held: {escape(held)}.</p>\n"
        f'<p class="action"><strong>Recommendation:</strong> {escape(fired["action"])}</p>'
    )


def _verdict(summary: dict[str, Any], limits: Monitor) -> str:
    if not summary["fired"]:
        return '<span class="ok">No trigger fired: every metric stayed within its threshold.</span>'
    names = ", ".join(escape(report.title(f["metric"], limits)) for f in summary["fired"])
    count = len(summary["fired"])
    return f'<span class="fired">{count} of {len(METRICS)} triggers fired: {names}.</span>'


def _totals(summary: dict[str, Any]) -> str:
    overall = summary["cache_hit_rate_overall"]
    rate = f"{overall:g}%" if overall is not None else "n/a"
    return (
        f"Too-many-clients errors in the range: {summary['too_many_clients_total']:g}; "
        f"cache hit rate overall: {rate} of {summary['cache_requests_total']:g} requests."
    )


def _sources(sources: Sequence[str]) -> str:
    """Where the readings came from, URLs without their scheme: the page links nowhere."""
    return ", ".join(_SCHEME.sub("", source) for source in sources)


def _value(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}{unit}" if unit else f"{value:g}"


def _moment(at: float, short: bool = False) -> str:
    fmt = "%d %b %H:%M:%S" if short else "%Y-%m-%d %H:%M:%S"
    return datetime.fromtimestamp(at, UTC).strftime(fmt)
