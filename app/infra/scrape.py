"""What a collector that reads Redis at scrape time exports first: whether Redis answered."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import redis
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

T = TypeVar("T")


def with_up_gauge(
    name: str,
    help_text: str,
    read: Callable[[], T],
    families: Callable[[T], Iterable[Metric]],
    what: str,
) -> Iterator[Metric]:
    """The gauge `name` at 1 and then `families` of what `read` returned; the gauge at 0
    alone when Redis did not answer (logged as "`what` unavailable")."""
    try:
        found = read()
    except redis.RedisError as exc:
        log.warning("%s unavailable: %s", what, exc)
        yield GaugeMetricFamily(name, help_text, value=0)
        return
    yield GaugeMetricFamily(name, help_text, value=1)
    yield from families(found)
