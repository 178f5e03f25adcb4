"""The RQ worker class for these jobs: `rq worker -w app.jobs.worker.JobWorker ...`.

RQ marks a running job with a heartbeat that expires 60 s after the last one,
so a worker killed with SIGKILL leaves its job "started" for over a minute
before another worker's maintenance pass moves it to the failed registry.
This worker shortens that grace to WORKER_HEARTBEAT_GRACE_S, and counts every
job that ended without reporting (its work horse killed, or found abandoned by
the maintenance pass) as outcome "abandoned" in the job stats.

The window after a SIGKILL is then at most: --job-monitoring-interval +
WORKER_HEARTBEAT_GRACE_S + the surviving workers' --maintenance-interval.
"""

from __future__ import annotations

import logging
from typing import Any

from rq import Worker
from rq.exceptions import AbandonedJobError
from rq.job import Job

from app import config
from app.jobs import stats
from app.jobs.queues import job_name

log = logging.getLogger(__name__)


def record_abandoned(job: Job, exc_type: type[BaseException], *_: Any) -> bool:
    """RQ exception handler: count jobs the maintenance pass found abandoned."""
    if exc_type is AbandonedJobError:
        log.warning("job %s (%s) was abandoned by a dead worker", job.id, job.func_name)
        stats.record_run(job.connection, job_name(job.func_name), "abandoned")
    return True  # let RQ's own handling continue


class JobWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat_grace_s = config.load_or_exit().WORKER_HEARTBEAT_GRACE_S
        self.push_exc_handler(record_abandoned)

    def get_heartbeat_ttl(self, job: Job) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - self.current_job_working_time, interval)
        return max(1, int(interval)) + self.heartbeat_grace_s

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        stats.record_run(self.connection, job_name(job.func_name), "abandoned")
