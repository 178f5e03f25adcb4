"""How every job runs: once at a time across the fleet, within its time budget, counted.

`run_job` takes the fleet lock (a Redis lock with a token and a short lease a
thread keeps renewing), runs the job's body, records the outcome in `stats`,
and turns "the database is unreachable" into an RQ `Retry` so the worker runs
the job again later. A run that finds the lock held is skipped and counted.

A worker killed with SIGKILL stops renewing, so its lease ends within
JOB_LOCK_LEASE_S and the next run proceeds; no match is left half-updated,
because every match update is its own transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import redis
from rq import get_current_job
from rq.job import Retry

from app.config import Settings
from app.infra import job_stats as stats
from app.infra import keys
from app.infra.errors import UNAVAILABLE_ERRORS, DatabaseUnavailable
from app.infra.lock import RedisLock
from app.jobs.context import JobContext, job_context
from app.jobs.orchestrator import UpdateResult

log = logging.getLogger(__name__)

Summary = dict[str, Any]
# How an orchestrator status counts in a job summary.
RESULT_OF = {
    "updated": "updated",
    "unchanged": "skipped",
    "rejected_locked": "skipped",
    "rejected_invalid": "rejected",
    "failed": "failed",
}
# Stop starting new updates once this share of the job timeout is used, so the job
# ends on its own before RQ's hard timeout interrupts it.
SOFT_DEADLINE_SHARE = 0.9


class FleetLock:
    """One holder fleet-wide; the lease is renewed every third of itself while held."""

    def __init__(self, client: redis.Redis, job: str, lease_s: int) -> None:
        self.client = client
        self.name = keys.JOB_LOCK.format(job)
        self.lease_s = lease_s
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._held: RedisLock | None = None
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{job}", daemon=True)

    def acquire(self) -> bool:
        self._held = RedisLock.try_acquire(self.client, self.name, self.lease_s)
        if self._held is None:
            return False
        self._renewer.start()
        return True

    def _renew(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                renewed = self._held is not None and self._held.renew(self.lease_s)
            except redis.RedisError as exc:
                log.warning("could not renew fleet lock %s: %s", self.name, exc)
                continue
            if not renewed:
                log.error("fleet lock %s expired while held: stopping early", self.name)
                self.lost.set()
                return

    def release(self) -> None:
        self._stop.set()
        self._renewer.join()
        try:
            if self._held is not None:
                self._held.release()
        except redis.RedisError as exc:
            log.warning("fleet lock %s not released cleanly: %s", self.name, exc)


class Budget:
    """When the job should stop starting new work."""

    def __init__(self, timeout_ms: int, lock: FleetLock) -> None:
        self.deadline = time.monotonic() + timeout_ms / 1000 * SOFT_DEADLINE_SHARE
        self.lock = lock

    def exhausted(self) -> bool:
        return time.monotonic() >= self.deadline or self.lock.lost.is_set()


Body = Callable[[JobContext, Budget], Summary]


def summarize(results: Iterable[UpdateResult], **extra: Any) -> Summary:
    """Count orchestrator results as updated/skipped/rejected/failed."""
    counts = Counter({"updated": 0, "skipped": 0, "rejected": 0, "failed": 0})
    for result in results:
        counts[RESULT_OF[result.status]] += 1
    return dict(counts) | extra


def run_job(name: str, settings: Settings, timeout_ms: int, body: Body) -> Summary | Retry:
    """Run `body` as job `name` unless another run holds the fleet lock."""
    with job_context(settings) as ctx:
        lock = FleetLock(ctx.redis, name, settings.JOB_LOCK_LEASE_S)
        if not lock.acquire():
            log.info("%s: previous run still in progress, skipping this one", name)
            stats.record_run(ctx.redis, name, "skipped")
            return summarize([], overlap=True)
        started = time.monotonic()
        try:
            summary = body(ctx, Budget(timeout_ms, lock))
        except (DatabaseUnavailable, *UNAVAILABLE_ERRORS) as exc:
            ctx.count_if_refused(exc)
            return _retry_later(ctx, name, time.monotonic() - started, exc)
        except Exception:
            stats.record_run(ctx.redis, name, "failed", duration_s=time.monotonic() - started)
            raise
        finally:
            lock.release()
        duration = time.monotonic() - started
        stats.record_run(ctx.redis, name, "succeeded", duration_s=duration, matches=summary)
        log.info("%s: %s in %.2fs", name, summary, duration)
        return summary


def transient_retry(settings: Settings) -> Retry:
    """RQ's Retry for a job the database was down for: backoff doubling from the interval.

    Only for JOB_RETRY_MAX >= 1 (RQ refuses a Retry of 0).
    """
    tries, first = settings.JOB_RETRY_MAX, settings.JOB_RETRY_INTERVAL_S
    return Retry(max=tries, interval=[first * 2**i for i in range(tries)])


def _retry_later(ctx: JobContext, name: str, duration: float, exc: BaseException) -> Retry:
    """Return RQ's Retry for a transient outage, or re-raise once retries are used up."""
    job = get_current_job()
    retries_done = (job.number_of_retries or 0) if job else 0
    if job is None or retries_done >= ctx.settings.JOB_RETRY_MAX:
        stats.record_run(ctx.redis, name, "failed", duration_s=duration)
        given_up = f"gave up after {retries_done} retries: " if job else ""
        raise DatabaseUnavailable(f"{name}: {given_up}{exc}") from exc
    log.warning("%s: database unavailable (%s); RQ will retry the job", name, exc)
    stats.record_run(ctx.redis, name, "retried", duration_s=duration)
    return transient_retry(ctx.settings)
