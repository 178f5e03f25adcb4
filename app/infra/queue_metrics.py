"""Queue metrics read from the queue Redis at scrape time (the web app's /metrics).

Memory of the queue Redis against its maxmemory (under noeviction a full Redis
refuses new jobs, so the alert must come before), its policy, and per queue
the number of waiting jobs and the age of the oldest one. Thresholds:
`queues` in checks/thresholds.yml.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import redis
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rq.job import Job
from rq.queue import Queue
from rq.utils import now, utcparse

from app.infra import metric_names as names
from app.infra.names import QUEUES
from app.infra.queue_redis import REQUIRED_POLICY
from app.infra.scrape import with_up_gauge


@dataclass(frozen=True)
class QueueState:
    name: str
    length: int
    oldest_age_s: float  # 0 when the queue is empty


@dataclass(frozen=True)
class QueueRedisState:
    used_memory_bytes: int
    maxmemory_bytes: int  # 0: no limit
    policy: str
    queues: tuple[QueueState, ...]


def read(client: redis.Redis, queues: Sequence[str] = QUEUES) -> QueueRedisState:
    """Memory, policy and the waiting jobs of `queues`, in two round trips."""
    pipe = client.pipeline(transaction=False)
    pipe.info("memory")
    for name in queues:
        key = Queue.redis_queue_namespace_prefix + name
        pipe.llen(key)
        pipe.lindex(key, 0)  # RQ pushes at the tail and pops at the head: the oldest
    memory, *replies = pipe.execute()
    lengths, heads = replies[::2], replies[1::2]
    pipe = client.pipeline(transaction=False)
    for head in filter(None, heads):
        pipe.hget(Job.redis_job_namespace_prefix + head.decode(), "enqueued_at")
    enqueued = iter(pipe.execute())
    current = now()
    states = []
    for name, length, head in zip(queues, lengths, heads, strict=True):
        age = 0.0
        stamp = next(enqueued) if head else None
        if stamp:
            age = max(0.0, (current - utcparse(stamp.decode())).total_seconds())
        states.append(QueueState(name, int(length), age))
    return QueueRedisState(
        used_memory_bytes=int(memory["used_memory"]),
        maxmemory_bytes=int(memory["maxmemory"]),
        policy=str(memory["maxmemory_policy"]),
        queues=tuple(states),
    )


class QueueMetricsCollector(Collector):
    """The queue Redis's memory and the queues' backlog, as Prometheus gauges."""

    def __init__(self, client: redis.Redis, queues: Sequence[str] = QUEUES) -> None:
        self.redis = client
        self.queues = tuple(queues)

    def describe(self) -> list[Metric]:
        return []  # registering must not touch Redis

    def collect(self) -> Iterator[Metric]:
        yield from with_up_gauge(
            names.QUEUE_REDIS_UP,
            "1 when the queue Redis answered",
            lambda: read(self.redis, self.queues),
            _families,
            "queue metrics",
        )


def _gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


def _families(state: QueueRedisState) -> Iterator[Metric]:
    yield _gauge(
        names.QUEUE_REDIS_USED_MEMORY,
        "Memory used by the queue Redis",
        state.used_memory_bytes,
    )
    yield _gauge(
        names.QUEUE_REDIS_MAXMEMORY,
        "maxmemory of the queue Redis (0: no limit); new jobs are refused when it is reached",
        state.maxmemory_bytes,
    )
    yield _gauge(
        names.QUEUE_REDIS_NOEVICTION,
        f"1 when the queue Redis's maxmemory-policy is {REQUIRED_POLICY} (jobs are never evicted)",
        1 if state.policy == REQUIRED_POLICY else 0,
    )
    length = GaugeMetricFamily(names.QUEUE_LENGTH, "Jobs waiting in the queue", labels=["queue"])
    age = GaugeMetricFamily(
        names.QUEUE_OLDEST_AGE,
        "How long the oldest waiting job has waited (0: queue empty)",
        labels=["queue"],
    )
    for queue in state.queues:
        length.add_metric([queue.name], queue.length)
        age.add_metric([queue.name], queue.oldest_age_s)
    yield from (length, age)
