"""What the web app depends on, and which of it it cannot serve without.

PostgreSQL is required: without it no request can be answered. The cache
Redis (REDIS_URL) and the queue Redis (RQ_REDIS_URL) are not: without the
cache every request is served from the database (in-process single-flight),
and without the queue Redis only job statistics are missing. So a host with a
reachable database is ready, and a missing Redis makes it "degraded", never
"not ready": a load balancer must not take every web host out on a Redis outage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import redis
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app import metrics
from app.infra import queue_redis
from app.infra.errors import DatabaseUnavailable
from app.web.database import Database

OK = "ok"
REQUIRED = ("postgres",)
OPTIONAL = ("redis", "queue_redis")


def check(
    db: Database, cache: redis.Redis, queues: redis.Redis, timeout_s: float
) -> dict[str, str]:
    """Each dependency's state: "ok", or a short word for what is wrong."""
    states = {"postgres": OK}
    try:
        db.ping(timeout_s)
    except DatabaseUnavailable as exc:
        states["postgres"] = exc.kind
    return states | check_optional(cache, queues)


def check_optional(cache: redis.Redis, queues: redis.Redis) -> dict[str, str]:
    """The state of each Redis; fast, as the web's clients time out in REDIS_SOCKET_TIMEOUT_S."""
    states = {"redis": OK, "queue_redis": OK}
    try:
        cache.ping()
    except redis.RedisError as exc:
        metrics.REDIS_ERRORS.labels(operation="ping").inc()
        states["redis"] = type(exc).__name__
    try:
        policy = queue_redis.maxmemory_policy(queues)
    except queue_redis.UnsafeQueueRedis:
        states["queue_redis"] = "policy unreadable"
    except redis.RedisError as exc:
        states["queue_redis"] = type(exc).__name__
    else:
        if policy != queue_redis.REQUIRED_POLICY:
            states["queue_redis"] = f"maxmemory-policy {policy}"
    return states


def verdict(states: Mapping[str, str]) -> tuple[str, list[str]]:
    """("ready" | "degraded" | "not ready", the optional dependencies that are down)."""
    degraded = [name for name in OPTIONAL if states.get(name) != OK]
    if any(states.get(name) != OK for name in REQUIRED):
        return "not ready", degraded
    return ("degraded" if degraded else "ready"), degraded


class DependencyCollector(Collector):
    """goalgpt_dependency_up per Redis and goalgpt_degraded, asked at every scrape.

    Only the optional dependencies: a scrape must answer even when every pooled
    database connection is busy (the pool gauges tell the database's side).
    """

    def __init__(self, states: Callable[[], Mapping[str, str]]) -> None:
        self.states = states

    def describe(self) -> list[Metric]:
        return []  # registering must not touch the dependencies

    def collect(self) -> Iterator[Metric]:
        states = self.states()
        up = GaugeMetricFamily(
            "goalgpt_dependency_up",
            "1 when the Redis answers as required (without it the service is degraded)",
            labels=["dependency"],
        )
        for name, state in states.items():
            up.add_metric([name], 1 if state == OK else 0)
        yield up
        yield GaugeMetricFamily(
            "goalgpt_degraded",
            "1 when the host serves without an optional dependency (still ready)",
            value=0 if all(state == OK for state in states.values()) else 1,
        )
