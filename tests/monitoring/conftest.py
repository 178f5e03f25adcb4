from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.monitoring.story import Story
from tests.support.prometheus import PrometheusServer, openmetrics


@pytest.fixture
def prometheus_with() -> Iterator[Callable[[Story], PrometheusServer]]:
    """Start a throwaway Prometheus holding a story's history (stopped after the test)."""
    started: list[PrometheusServer] = []

    def start(story: Story) -> PrometheusServer:
        server = PrometheusServer()
        started.append(server)
        server.backfill(openmetrics(story.series()))
        return server.start()

    yield start
    for server in started:
        server.stop()
