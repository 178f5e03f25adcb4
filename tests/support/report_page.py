"""Read back what a `checks.monitor --report` page drew, from its SVG alone.

Each chart is an <svg id="chart-METRIC"> whose `data-x-range` (unix seconds) and
`data-y-range` are the axes' limits; the plot area's rectangle (`plot-area-METRIC`)
gives the pixels they span. With those, a path's pixels become times and values:
the threshold line (`threshold-METRIC`) a value, each shaded span (`held-METRIC-N`)
a pair of times.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

METRICS = ("max_clients_errors", "cache_hit_rate", "db_active_connections", "pool_waiting")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")
_SVG = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


def _points(element: ET.Element) -> list[tuple[float, float]]:
    (path,) = element.iter("path")
    numbers = [float(n) for n in _NUMBER.findall(path.get("d", ""))]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


@dataclass
class Chart:
    metric: str
    svg: ET.Element

    def _by_id(self, id_: str) -> ET.Element:
        (found,) = [e for e in self.svg.iter() if e.get("id") == id_]
        return found

    def _box(self) -> tuple[float, float, float, float]:
        points = _points(self._by_id(f"plot-area-{self.metric}"))
        xs, ys = [x for x, _ in points], [y for _, y in points]
        return min(xs), max(xs), min(ys), max(ys)

    def time_at(self, px: float) -> float:
        left, right, _, _ = self._box()
        start, end = (float(v) for v in self.svg.get("data-x-range").split())
        return start + (px - left) / (right - left) * (end - start)

    def value_at(self, py: float) -> float:
        _, _, top, bottom = self._box()
        low, high = (float(v) for v in self.svg.get("data-y-range").split())
        return low + (bottom - py) / (bottom - top) * (high - low)

    @property
    def x_range(self) -> tuple[float, float]:
        start, end = (float(v) for v in self.svg.get("data-x-range").split())
        return start, end

    def threshold(self) -> float:
        """The value at which the threshold line is drawn (it must be horizontal)."""
        ys = {y for _, y in _points(self._by_id(f"threshold-{self.metric}"))}
        assert len(ys) == 1, f"{self.metric}: threshold line is not horizontal: {ys}"
        return self.value_at(ys.pop())

    def held(self) -> list[tuple[float, float]]:
        """Each shaded span as (from, to) unix times, in drawing order."""
        prefix = f"held-{self.metric}-"
        spans = []
        for element in self.svg.iter():
            if (element.get("id") or "").startswith(prefix):
                xs = [x for x, _ in _points(element)]
                spans.append((self.time_at(min(xs)), self.time_at(max(xs))))
        return spans


def charts(page: str) -> dict[str, Chart]:
    """Every chart on the page by metric."""
    found = {}
    for text in _SVG.findall(page):
        svg = ET.fromstring(text)
        metric = svg.get("id", "").removeprefix("chart-")
        found[metric] = Chart(metric, svg)
    return found


def read(directory: Path) -> str:
    return (directory / "pool-health.html").read_text(encoding="utf-8")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag of the page with its attributes, as a browser's parser sees them."""
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.tags


def external_references(page: str) -> list[str]:
    """Whatever in the page a browser could fetch or run: should be nothing."""
    found = re.findall(r"(?i)\b(?:https?|ftp|file)://\S*|@import|url\((?!#)[^)]*\)", page)
    for tag, attrs in tags(page):
        if tag in ("script", "link", "iframe", "object", "embed", "img", "image", "base"):
            found.append(f"<{tag}>")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"{tag} {name}=")
            if name in ("href", "src", "xlink:href", "action", "srcset") and not (
                value or ""
            ).startswith("#"):
                found.append(f"{tag} {name}={value}")
    return found
