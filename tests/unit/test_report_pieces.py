"""The report's two pure pieces: where a trigger held, and an SVG made fit for a page."""

from __future__ import annotations

import pytest

from checks.monitor.inline_svg import inline
from checks.monitor.timeline import held_spans
from checks.monitor.triggers import METRICS, Reading


def readings(*held: bool) -> list[tuple[float, Reading]]:
    """One reading every 10 s from t=100; pool_waiting held where `held` says."""
    values = dict.fromkeys(METRICS, 0.0)
    return [
        (100.0 + 10 * i, Reading(values, {m: m == "pool_waiting" and h for m in METRICS}, None))
        for i, h in enumerate(held)
    ]


@pytest.mark.parametrize(
    ("held", "spans"),
    [
        ((), []),
        ((False, False, False), []),
        ((False, True, True, False), [(110, 130)]),
        ((True, False, True, False), [(100, 110), (120, 130)]),
        ((False, False, True), [(120, 200)]),  # held to the end of the range
    ],
)
def test_a_span_runs_from_the_first_held_reading_to_the_first_that_is_not(held, spans):
    assert held_spans(readings(*held), "pool_waiting", end=200) == spans


def test_other_metrics_have_their_own_spans():
    assert held_spans(readings(True, True), "cache_hit_rate", end=200) == []


DOCUMENT = """<?xml version="1.0" encoding="utf-8" standalone="no"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"
  "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns:xlink="http://www.w3.org/1999/xlink" xmlns="http://www.w3.org/2000/svg" version="1.1">
 <metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></metadata>
 <defs><path id="m1" d="M 0 0 L 1 0"/><clipPath id="p1"><rect/></clipPath></defs>
 <g id="axes_1"><use xlink:href="#m1" x="3"/><path id="value-x" clip-path="url(#p1)" d=""/></g>
</svg>
"""


def test_an_inlined_svg_names_no_url_and_shares_no_id():
    text = inline(DOCUMENT, "x", keep={"value-x"}, root={"id": "chart-x"})

    assert "http" not in text
    assert "metadata" not in text and "DOCTYPE" not in text and "xmlns" not in text
    assert text.startswith('<svg id="chart-x">')
    assert '<path id="x-m1"' in text and '<clipPath id="x-p1">' in text
    assert '<g id="x-axes_1">' in text
    assert '<use x="3" href="#x-m1" />' in text  # references follow their ids
    assert '<path id="value-x" clip-path="url(#x-p1)"' in text  # a kept id keeps its name
