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
class ScheduledJob:
    """A job `rq cron` runs; its timeout and cron string are the settings
    `<settings>_TIMEOUT_MS` and `<settings>_CRON` (app/config/schema.py)."""

    name: str
    func: Callable[..., Any]
    queue: str
    settings: str


# The job table, once: the cron configuration, the CLI and the stats names read it.
SCHEDULED = (
    ScheduledJob(match_minute.JOB, match_minute.tick, QUEUE_LIVE, "MATCH_MINUTE"),
    ScheduledJob(watchdog.JOB, watchdog.run, QUEUE_MAINTENANCE, "MATCH_WATCHDOG"),
    ScheduledJob(
        data_completeness.JOB, data_completeness.run, QUEUE_MAINTENANCE, "DATA_COMPLETENESS"
    ),
)
ORCHESTRATOR = "orchestrator"  # the stats name of single match updates (enqueue_update)


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


def job_specs(settings: config.Settings) -> list[JobSpec]:
    """The scheduled jobs with their timeouts and cron strings from `settings`."""
    return [
        JobSpec(
            job.name,
            job.func,
            job.queue,
            getattr(settings, f"{job.settings}_TIMEOUT_MS"),
            getattr(settings, f"{job.settings}_CRON"),
        )
        for job in SCHEDULED
    ]


def entry_point(name: str) -> Callable[..., Any]:
    """The function of scheduled job `name` (KeyError for an unknown one)."""
    return {job.name: job.func for job in SCHEDULED}[name]


def job_name(func_name: str) -> str:
    """The stats name of the job RQ knows as `func_name` (e.g. 'match_minute')."""
    functions = {job.name: job.func for job in SCHEDULED}
    functions[ORCHESTRATOR] = orchestrator.update_match
    for name, func in functions.items():
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
