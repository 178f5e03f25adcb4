"""One live sample of the monitor read from Prometheus instead of /metrics and PostgreSQL.

`python -m checks.monitor --prometheus-url URL --duration S`: every --interval,
the app's raw series per scraped instance and the postgres exporter's active
connections, as Prometheus last scraped them. The triggers then apply exactly
as to a live sample (each instance's first sample is the baseline), so the run
judges only what happens while it watches, never what happened before it.
"""

from __future__ import annotations

from collections import defaultdict

from checks.alert_rules import values as value_queries
from checks.monitor import sources
from checks.monitor.history import Prometheus, PrometheusError
from checks.thresholds import Monitor

_APP_METRICS = (
    sources.TOO_MANY_CLIENTS,
    sources.JOB_TOO_MANY_CLIENTS,
    sources.CACHE_REQUESTS,
    sources.POOL_WAITING,
    sources.POOL_MAX,
    sources.BOUNCER_WAITING,
)
# Per instance, without the labels the scrape adds (job, the inventory's host, ...).
APP_SERIES = (
    'sum by (__name__, instance, source, result) ({__name__=~"' + "|".join(_APP_METRICS) + '"})'
)


class PrometheusNow:
    """The monitor's two sources, both answered by one Prometheus."""

    def __init__(self, prometheus: Prometheus, limits: Monitor) -> None:
        self.prometheus = prometheus
        self.active_query = value_queries(limits)["db_active_connections"]
        self.app_source = f"{prometheus.url} (goalgpt_* series of the app hosts)"
        self.db_source = f"{prometheus.url} (pg_stat_activity_count of postgres_exporter)"

    @property
    def given(self) -> list[str]:
        return [self.app_source, self.db_source]

    def read(self) -> tuple[sources.Sample, set[str]]:
        """This moment's sample, and which of `given` answered."""
        sample, answered = sources.Sample(), set()
        try:
            by_instance: dict[str, list[tuple[str, dict[str, str], float]]] = defaultdict(list)
            for labels, value in self.prometheus.vector(APP_SERIES):
                name, instance = labels.pop("__name__"), labels.pop("instance", "")
                by_instance[instance].append((name, labels, value))
            for instance, metrics in sorted(by_instance.items()):
                sources.add_metrics(sample, instance, metrics)
            if by_instance:
                answered.add(self.app_source)
            active = self.prometheus.vector(self.active_query)
            if active:
                sample.db_active = int(active[0][1])
                answered.add(self.db_source)
        except PrometheusError as exc:
            sample.errors.append(str(exc))
        return sample, answered
