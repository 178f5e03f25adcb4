"""The table of jobs, their queues, and helpers to enqueue them on the queue Redis.

The workers' command line (queues, flags) is defined once in worker_command.py.
Enqueueing refuses a queue Redis that may evict keys (queue_redis.check).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis
from rq import Queue
from rq.job import Job

from app import config
from app.infra import queue_redis
from app.infra.names import QUEUE_LIVE, QUEUE_MAINTENANCE
from app.jobs import data_completeness, match_minute, orchestrator, watchdog

RESULT_TTL_S = 3600  # keep summaries an hour for operators to read
FAILURE_TTL_S = 7 * 24 * 3600
UPDATE_TIMEOUT_S = 60


@dataclass(frozen=True)
class JobSpec:
    name: str
    func: Callable[..., Any]
    queue: str
    timeout_ms: int
    cron: str

    @property
    def timeout_s(self) -> int:
        """RQ's job timeout: the configured milliseconds, rounded up to whole seconds."""
        return math.ceil(self.timeout_ms / 1000)

    @property
    def func_name(self) -> str:
        return f"{self.func.__module__}.{self.func.__name__}"


def job_specs(settings: config.Settings) -> list[JobSpec]:
    """The scheduled jobs, their queues, timeouts and cron strings, from the config."""
    return [
        JobSpec(
            match_minute.JOB,
            match_minute.tick,
            QUEUE_LIVE,
            settings.MATCH_MINUTE_TIMEOUT_MS,
            settings.MATCH_MINUTE_CRON,
        ),
        JobSpec(
            watchdog.JOB,
            watchdog.run,
            QUEUE_MAINTENANCE,
            settings.MATCH_WATCHDOG_TIMEOUT_MS,
            settings.MATCH_WATCHDOG_CRON,
        ),
        JobSpec(
            data_completeness.JOB,
            data_completeness.run,
            QUEUE_MAINTENANCE,
            settings.DATA_COMPLETENESS_TIMEOUT_MS,
            settings.DATA_COMPLETENESS_CRON,
        ),
    ]


ENTRY_POINTS: dict[str, Callable[..., Any]] = {
    match_minute.JOB: match_minute.tick,
    watchdog.JOB: watchdog.run,
    data_completeness.JOB: data_completeness.run,
    "orchestrator": orchestrator.update_match,
}


def job_name(func_name: str) -> str:
    """The stats name of the job RQ knows as `func_name` (e.g. 'match_minute')."""
    for name, func in ENTRY_POINTS.items():
        if f"{func.__module__}.{func.__name__}" == func_name:
            return name
    return func_name


def enqueue_job(connection: redis.Redis, name: str, settings: config.Settings) -> Job:
    """Enqueue one run of the scheduled job `name` now, with its configured timeout.

    Raises queue_redis.UnsafeQueueRedis on a queue Redis that may evict jobs.
    """
    queue_redis.ensure_checked(connection)
    specs = {spec.name: spec for spec in job_specs(settings)}
    if name not in specs:
        raise ValueError(f"unknown job {name!r}: one of {', '.join(specs)}")
    spec = specs[name]
    return Queue(spec.queue, connection=connection).enqueue(
        spec.func,
        job_timeout=spec.timeout_s,
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
    )


def enqueue_update(connection: redis.Redis, match_id: object, changes: Mapping[str, Any]) -> Job:
    """Enqueue one orchestrator update; its result is the UpdateResult.

    Raises queue_redis.UnsafeQueueRedis on a queue Redis that may evict jobs.
    """
    queue_redis.ensure_checked(connection)
    return Queue(QUEUE_LIVE, connection=connection).enqueue(
        orchestrator.update_match,
        match_id,
        dict(changes),
        job_timeout=UPDATE_TIMEOUT_S,
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
    )
