"""Prometheus metrics of the web process, safe under gunicorn's worker processes.

The web process's own: `app.web`, its cache (`app.cache`) and gunicorn's hooks
(`app.gunicorn_conf`) import it, nothing else (the lint's protected contract).

With PROMETHEUS_MULTIPROC_DIR set (before this module is imported), every process
writes its values to files in that directory and `render()` merges them, so one
scrape counts every worker: counters, the histogram and the refusals of the last hour
are summed. Each pool gauge is one series per worker (`liveall`, labelled `pid`), since
each worker has its own pool: a host's `goalgpt_db_pool_max` reads DB_MAX_CONNECTIONS
once per worker, never their sum (sum() them for the host). A worker that died takes
its live gauges with it (gunicorn's `child_exit` hook marks it dead).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from app.infra import metric_names as names

HTTP_REQUESTS = Counter(
    "goalgpt_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "goalgpt_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CACHE_REQUESTS = Counter(
    names.CACHE_REQUESTS_TOTAL,
    "Predictions cache lookups: hit (fresh), stale (served while refreshing) or miss.",
    ["result"],
)
SINGLEFLIGHT = Counter(
    "goalgpt_singleflight_total",
    "Single-flight calls: executed (ran the query) or deduplicated (shared a result), "
    "inside one process or across the fleet.",
    ["level", "outcome"],
)
DB_POOL_SIZE = Gauge(
    names.DB_POOL_SIZE, "Connections open in the pool.", multiprocess_mode="liveall"
)
DB_POOL_AVAILABLE = Gauge(
    names.DB_POOL_AVAILABLE, "Idle connections in the pool.", multiprocess_mode="liveall"
)
DB_POOL_WAITING = Gauge(
    names.DB_POOL_WAITING,
    "Requests waiting for a pooled connection.",
    multiprocess_mode="liveall",
)
DB_POOL_MAX = Gauge(
    names.DB_POOL_MAX,
    "Largest size the pool may reach (DB_MAX_CONNECTIONS).",
    multiprocess_mode="liveall",
)
DB_TOO_MANY_CLIENTS = Counter(
    names.DB_TOO_MANY_CLIENTS_TOTAL,
    "Refusals for lack of connection slots (SQLSTATE 53300, pooler 'max clients'), "
    "by where they were seen: connect (opening a pool connection) or query.",
    ["source"],
)
DB_TOO_MANY_CLIENTS_LAST_HOUR = Gauge(
    names.DB_TOO_MANY_CLIENTS_LAST_HOUR,
    "Refusals for lack of connection slots in the last hour (the MaxClients trigger's window), "
    "summed over the live processes.",
    multiprocess_mode="livesum",
)
DB_ERRORS = Counter(
    "goalgpt_db_errors_total",
    "Database failures answered with 503, by kind "
    "(pool_timeout, too_many_clients, timeout, connection).",
    ["kind"],
)
REDIS_ERRORS = Counter(
    "goalgpt_redis_errors_total",
    "Redis commands that failed (the request went on without the shared cache).",
    ["operation"],
)

# Every label value exists from the start at 0: a counter first scraped at 1 hides
# that first increment from Prometheus' increase(), so 4 errors would read 3.
for _source in ("connect", "query"):
    DB_TOO_MANY_CLIENTS.labels(source=_source)
for _result in ("hit", "stale", "miss"):
    CACHE_REQUESTS.labels(result=_result)

POOL_GAUGES = {
    "pool_size": DB_POOL_SIZE,
    "pool_available": DB_POOL_AVAILABLE,
    "requests_waiting": DB_POOL_WAITING,
    "pool_max": DB_POOL_MAX,
}


def multiprocess_dir() -> str | None:
    """The directory shared by gunicorn's workers, or None in a single process."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class _DefaultRegistry(Collector):
    """The process-local registry, as one collector of a bigger registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def render(extra_collectors: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The Prometheus text of this service plus `extra_collectors`, and its content type.

    Extra collectors (e.g. job statistics read from Redis) are asked on every scrape.
    """
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    for collector in extra_collectors:
        registry.register(collector)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (called from gunicorn's master)."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(pid)
