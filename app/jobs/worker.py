"""The RQ worker class for these jobs; its command line is in worker_command.py.

At start it refuses a queue Redis that may evict keys (queue_redis.check), with
one line on stderr and exit status 1.

RQ marks a running job with a heartbeat that expires 60 s after the last one,
so a worker killed with SIGKILL leaves its job "started" for over a minute
before another worker's maintenance pass moves it to the failed registry.
This worker shortens that grace to WORKER_HEARTBEAT_GRACE_S, and counts every
job that ended without reporting (its work horse killed, or found abandoned by
the maintenance pass) as outcome "abandoned" in the job stats.

The window after a SIGKILL is then at most: --job-monitoring-interval +
WORKER_HEARTBEAT_GRACE_S + the surviving workers' maintenance period.

RQ registers a worker once, at birth. A queue Redis that restarted without its
data (or failed over) forgets it, and `rq info` says "0 workers" while it runs;
this worker checks its registration at every heartbeat and registers again.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from rq import Worker, worker_registration
from rq.exceptions import AbandonedJobError
from rq.job import Job

from app import config
from app.infra import job_stats, queue_redis
from app.jobs.queues import job_name

log = logging.getLogger(__name__)


def record_abandoned(job: Job, exc_type: type[BaseException], *_: Any) -> bool:
    """RQ exception handler: count jobs the maintenance pass found abandoned."""
    if exc_type is AbandonedJobError:
        log.warning("job %s (%s) was abandoned by a dead worker", job.id, job.func_name)
        job_stats.record_run(job.connection, job_name(job.func_name), "abandoned")
    return True  # let RQ's own handling continue


class JobWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = config.load_or_exit()
        queue_redis.check_or_exit(self.connection, "rq worker", settings.RQ_REDIS_URL)
        self.heartbeat_grace_s = settings.WORKER_HEARTBEAT_GRACE_S
        self.push_exc_handler(record_abandoned)

    def get_heartbeat_ttl(self, job: Job) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - self.current_job_working_time, interval)
        return max(1, int(interval)) + self.heartbeat_grace_s

    def handle_work_horse_killed(self, job: Job, retpid: int, ret_val: int, rusage: Any) -> None:
        super().handle_work_horse_killed(job, retpid, ret_val, rusage)
        job_stats.record_run(self.connection, job_name(job.func_name), "abandoned")

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        super().heartbeat(timeout, pipeline)
        if pipeline is None:
            self.register_again_if_forgotten()

    def maintain_heartbeats(self, job: Job) -> None:
        super().maintain_heartbeats(job)
        self.register_again_if_forgotten()

    def register_again_if_forgotten(self) -> bool:
        """Register this worker again if the queue Redis no longer lists it; True if it did."""
        if self.birth_date is None or self.connection.sismember(
            worker_registration.REDIS_WORKER_KEYS, self.key
        ):
            return False
        log.warning(
            "worker %s was not registered (the queue Redis restarted or failed over): "
            "registering again",
            self.name,
        )
        try:
            with self.connection.pipeline() as pipe:
                pipe.hset(self.key, mapping={**self.serialize(), "state": self.get_state()})
                worker_registration.register(self, pipe)
                pipe.expire(self.key, self.worker_ttl + 60)
                pipe.execute()
        except redis.RedisError as exc:  # the next heartbeat tries again
            log.warning("could not register worker %s again: %s", self.name, exc)
            return False
        return True
