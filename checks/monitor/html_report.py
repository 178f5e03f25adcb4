"""`--report`: a run drawn as one self-contained HTML page (needs the `report` extra).

Where each trigger held comes from the readings (`timeline.held_spans`); the
charts from matplotlib (`charts`); the page around them from `page`.
"""

from __future__ import annotations

from checks.monitor import charts, page
from checks.monitor.timeline import Recording, held_spans
from checks.monitor.triggers import METRICS


def render(recording: Recording) -> str:
    """The page's HTML: four charts, each beside what the summary says of its metric."""
    r = recording
    spans = {m: held_spans(r.points, m, r.end) for m in METRICS}
    drawn = {m: charts.svg(m, r.points, spans[m], r.limits, r.start, r.end) for m in METRICS}
    return page.html(r, drawn, spans)
