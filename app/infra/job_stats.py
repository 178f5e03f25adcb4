"""Job metrics kept in Redis, so every worker on every host adds to one set of numbers.

Workers write with `record_run` (a few HINCRBYs in one round trip); the web
app's /metrics reads them at scrape time through `JobStatsCollector`, which
plugs into a prometheus_client registry like any other collector.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Iterator, Mapping

import redis
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from app.infra import keys, refusal
from app.infra.metric_names import JOB_TOO_MANY_CLIENTS_LAST_HOUR, JOB_TOO_MANY_CLIENTS_TOTAL
from app.infra.scrape import with_up_gauge

log = logging.getLogger(__name__)

OUTCOMES = ("succeeded", "failed", "retried", "skipped", "abandoned")
MATCH_RESULTS = ("updated", "skipped", "rejected", "failed")
DURATION_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, math.inf)


def _bucket_field(bound: float) -> str:
    return "bucket:+Inf" if bound == math.inf else f"bucket:{bound:g}"


def record_run(
    client: redis.Redis,
    job: str,
    outcome: str,
    *,
    duration_s: float | None = None,
    matches: Mapping[str, int] | None = None,
) -> None:
    """Count one run of `job` that ended with `outcome` (one of OUTCOMES)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown job outcome {outcome!r}")
    key = keys.JOB_STATS.format(job)
    pipe = client.pipeline(transaction=False)
    pipe.sadd(keys.JOB_NAMES, job)
    pipe.hincrby(key, f"runs:{outcome}", 1)
    if duration_s is not None:
        for bound in DURATION_BUCKETS:
            if duration_s <= bound:
                pipe.hincrby(key, _bucket_field(bound), 1)
        pipe.hincrbyfloat(key, "duration_sum", duration_s)
    for result, count in (matches or {}).items():
        if result in MATCH_RESULTS and count:
            pipe.hincrby(key, f"matches:{result}", count)
    if outcome == "succeeded":
        pipe.hset(key, "last_success", time.time())
    pipe.execute()


def record_refusal(client: redis.Redis, source: str) -> None:
    """Count one refusal for lack of a connection slot seen by a job (connect or query).

    Never raises: a job that cannot reach Redis either still runs, uncounted, with a warning.
    """
    now = time.time()
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(keys.DB_REFUSALS, source, 1)
        pipe.zadd(keys.DB_REFUSALS_RECENT, {f"{now}:{uuid.uuid4().hex[:8]}": now})
        pipe.zremrangebyscore(keys.DB_REFUSALS_RECENT, "-inf", now - refusal.WINDOW_S)
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("could not count a database refusal (%s) in Redis: %s", source, exc)


def read_refusals(client: redis.Redis) -> dict[str, float]:
    return {k.decode(): float(v) for k, v in client.hgetall(keys.DB_REFUSALS).items()}


def recent_refusals(client: redis.Redis) -> int:
    """Refusals the jobs met in the last refusal.WINDOW_S seconds, fleet-wide."""
    return client.zcount(keys.DB_REFUSALS_RECENT, time.time() - refusal.WINDOW_S, "+inf")


def read(client: redis.Redis) -> dict[str, dict[str, float]]:
    """Every job's counters as {job: {field: value}}."""
    jobs = sorted(name.decode() for name in client.smembers(keys.JOB_NAMES))
    pipe = client.pipeline(transaction=False)
    for job in jobs:
        pipe.hgetall(keys.JOB_STATS.format(job))
        pipe.exists(keys.JOB_LOCK.format(job))
    replies = pipe.execute()
    stats = {}
    for job, fields, running in zip(jobs, replies[::2], replies[1::2], strict=True):
        values = {k.decode(): float(v) for k, v in fields.items()}
        values["running"] = float(running)
        stats[job] = values
    return stats


class JobStatsCollector(Collector):
    """Exposes the jobs' Redis counters as Prometheus metrics at scrape time."""

    def __init__(self, redis_client: redis.Redis) -> None:
        self.redis = redis_client

    def describe(self) -> list[Metric]:
        # Registering must not touch Redis; the metrics are known only at collect time.
        return []

    def collect(self) -> Iterator[Metric]:
        yield from with_up_gauge(
            "goalgpt_job_stats_up",
            "1 when job stats could be read from Redis",
            lambda: read(self.redis),
            self._metrics,
            "job stats",
        )

    def _metrics(self, stats: Mapping[str, Mapping[str, float]]) -> Iterator[Metric]:
        yield from _families(stats)
        yield _refusals(read_refusals(self.redis))
        recent = GaugeMetricFamily(
            JOB_TOO_MANY_CLIENTS_LAST_HOUR,
            "Refusals for lack of connection slots met by job processes in the last hour",
        )
        recent.add_metric([], recent_refusals(self.redis))
        yield recent


def _refusals(counts: Mapping[str, float]) -> Metric:
    family = CounterMetricFamily(
        JOB_TOO_MANY_CLIENTS_TOTAL,
        "Refusals for lack of connection slots met by job processes (every form of "
        "app.infra.refusal), by where: connect or query",
        labels=["source"],
    )
    for source in ("connect", "query"):
        family.add_metric([source], counts.get(source, 0))
    return family


def _families(stats: Mapping[str, Mapping[str, float]]) -> Iterator[Metric]:
    runs = CounterMetricFamily("goalgpt_job_runs", "Job runs by outcome", labels=["job", "outcome"])
    matches = CounterMetricFamily(
        "goalgpt_job_matches", "Matches handled by jobs, by result", labels=["job", "result"]
    )
    duration = HistogramMetricFamily(
        "goalgpt_job_duration_seconds", "Duration of job runs that did work", labels=["job"]
    )
    running = GaugeMetricFamily(
        "goalgpt_job_running", "1 while a run of the job holds the fleet lock", labels=["job"]
    )
    last_success = GaugeMetricFamily(
        "goalgpt_job_last_success_timestamp_seconds",
        "Unix time of the job's last successful run",
        labels=["job"],
    )
    for job, values in stats.items():
        for outcome in OUTCOMES:
            runs.add_metric([job, outcome], values.get(f"runs:{outcome}", 0))
        for result in MATCH_RESULTS:
            matches.add_metric([job, result], values.get(f"matches:{result}", 0))
        buckets = [(floatToGoString(b), values.get(_bucket_field(b), 0)) for b in DURATION_BUCKETS]
        duration.add_metric([job], buckets, values.get("duration_sum", 0))
        running.add_metric([job], values.get("running", 0))
        if "last_success" in values:
            last_success.add_metric([job], values["last_success"])
    yield from (runs, matches, duration, running, last_success)
