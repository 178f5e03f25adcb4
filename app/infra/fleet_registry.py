"""Who runs the jobs, as the queue Redis knows it: RQ's cron schedulers and workers.

Each scheduler (`python -m app.jobs.cron`) heartbeats every HEARTBEAT_S into RQ's
registry (a sorted set: name -> time of its last heartbeat); each worker registers
with its host name and expires WORKER_TTL_S after its last heartbeat. The web app's
/metrics exports both at scrape time, so Prometheus, the smoke gate and testinfra
see a missing scheduler or a worker host without workers. Thresholds:
`dependencies` in checks/thresholds.yml.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import redis
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from rq import cron_scheduler_registry, worker_registration

from app.infra import metric_names as names

log = logging.getLogger(__name__)

HEARTBEAT_S = 10.0  # how often the scheduler heartbeats (app/jobs/cron.py)
# A scheduler whose heartbeat is younger than this runs (three missed heartbeats: not).
FRESH_S = 3 * HEARTBEAT_S


@dataclass(frozen=True)
class FleetState:
    schedulers: dict[str, float]  # scheduler name -> unix time of its last heartbeat
    workers_by_host: dict[str, int]  # host name -> registered rq workers

    def running_schedulers(self, now: float) -> list[str]:
        """The schedulers that heartbeat within FRESH_S of `now`."""
        return sorted(name for name, beat in self.schedulers.items() if now - beat < FRESH_S)


def read(client: redis.Redis) -> FleetState:
    """Every scheduler's last heartbeat and the registered workers per host, two round trips."""
    beats = client.zrange(cron_scheduler_registry.get_registry_key(), 0, -1, withscores=True)
    worker_keys = sorted(client.smembers(worker_registration.REDIS_WORKER_KEYS))
    pipe = client.pipeline(transaction=False)
    for key in worker_keys:
        pipe.hget(key, "hostname")
    hosts = Counter(host.decode() for host in pipe.execute() if host)  # an expired one: None
    return FleetState(
        schedulers={_text(name): float(score) for name, score in beats},
        workers_by_host=dict(hosts),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class FleetRegistryCollector(Collector):
    """The schedulers' last heartbeat and the workers per host, as Prometheus gauges.

    Nothing is exported while the queue Redis does not answer (goalgpt_queue_redis_up
    says so): a missing heartbeat then means "unknown", not "no scheduler".
    """

    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def describe(self) -> list[Metric]:
        return []  # registering must not touch Redis

    def collect(self) -> Iterator[Metric]:
        try:
            state = read(self.redis)
        except redis.RedisError as exc:
            log.warning("scheduler and worker registry unavailable: %s", exc)
            return
        yield GaugeMetricFamily(
            names.CRON_LAST_HEARTBEAT,
            "Unix time of the newest heartbeat of any rq cron scheduler (0: none registered)",
            value=max(state.schedulers.values(), default=0.0),
        )
        beats = GaugeMetricFamily(
            names.CRON_HEARTBEAT,
            "Unix time of each registered rq cron scheduler's last heartbeat",
            labels=["scheduler"],
        )
        for name, beat in sorted(state.schedulers.items()):
            beats.add_metric([name], beat)
        yield beats
        workers = GaugeMetricFamily(
            names.RQ_WORKERS, "rq workers registered in the queue Redis, per host", labels=["host"]
        )
        for host, count in sorted(state.workers_by_host.items()):
            workers.add_metric([host], count)
        yield workers
