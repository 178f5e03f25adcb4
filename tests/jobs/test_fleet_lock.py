"""The job runner's fleet lock and lease on a real Redis, in this process.

The lease is short on purpose (1 s): a lock that was not renewed would be gone
after it, so seeing the key alive at three leases proves the renewal. The
database is never reached: a job context opens its pool in the background, and
these bodies do not use it.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from app import config
from app.infra import job_stats as stats
from app.infra import keys
from app.infra.errors import DatabaseUnavailable
from app.jobs import runner
from app.jobs.orchestrator import UpdateResult
from app.jobs.runner import Budget, FleetLock, run_job, summarize
from tests.support.servers import free_port

JOB = "edge_job"
LOCK = keys.JOB_LOCK.format(JOB)


@pytest.fixture
def client(redis_url):
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def settings(redis_url):
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    return config.load(
        {
            "DATABASE_URL": nowhere,
            "REDIS_URL": redis_url,
            "RQ_REDIS_URL": redis_url,
            "JOB_LOCK_LEASE_S": "1",
        }
    )


def test_a_held_lease_is_renewed_past_its_length_and_freed_on_release(client):
    lock = FleetLock(client, JOB, lease_s=1)
    assert lock.acquire()
    held_since = time.monotonic()
    try:
        while time.monotonic() - held_since < 3:
            ttl_ms = client.pttl(LOCK)
            assert 0 < ttl_ms <= 1000, "the lease lapsed while its holder was alive"
            time.sleep(0.05)
        assert not lock.lost.is_set()
    finally:
        lock.release()
    assert client.exists(LOCK) == 0
    assert not lock._renewer.is_alive()


def test_a_second_holder_is_refused_until_the_first_releases(client):
    first, second = FleetLock(client, JOB, 5), FleetLock(client, JOB, 5)
    assert first.acquire()
    try:
        assert not second.acquire()
    finally:
        first.release()
    assert second.acquire()
    second.release()


def test_a_lease_taken_away_is_noticed_and_the_budget_ends(client):
    lock = FleetLock(client, JOB, lease_s=1)
    assert lock.acquire()
    budget = Budget(timeout_ms=600_000, lock=lock)
    assert not budget.exhausted()

    client.set(LOCK, "someone-else")  # the lease expired and another run took it

    assert lock.lost.wait(timeout=2), "the renewer never noticed"
    assert budget.exhausted()
    lock.release()
    assert client.get(LOCK) == b"someone-else", "release must not free another run's lock"


def test_the_budget_ends_at_nine_tenths_of_the_job_timeout(client):
    lock = FleetLock(client, JOB, lease_s=5)
    budget = Budget(timeout_ms=2000, lock=lock)

    assert budget.deadline - time.monotonic() == pytest.approx(1.8, abs=0.05)
    assert runner.SOFT_DEADLINE_SHARE == 0.9


def test_a_run_holds_the_lock_while_its_body_runs_and_records_success(client, settings):
    seen = {}

    def body(ctx, budget):
        seen["held"] = client.exists(LOCK)
        seen["exhausted"] = budget.exhausted()
        return summarize([UpdateResult("updated")], due=1)

    summary = run_job(JOB, settings, 60_000, body)

    assert summary == {"updated": 1, "skipped": 0, "rejected": 0, "failed": 0, "due": 1}
    assert seen == {"held": 1, "exhausted": False}
    assert client.exists(LOCK) == 0
    counts = stats.read(client)[JOB]
    assert counts["runs:succeeded"] == 1 and counts["matches:updated"] == 1


def test_a_run_that_finds_the_lock_held_is_skipped_and_counted(client, settings):
    client.set(LOCK, "another-worker", ex=30)
    ran = threading.Event()

    summary = run_job(JOB, settings, 60_000, lambda ctx, budget: ran.set())

    assert not ran.is_set()
    assert summary == {"updated": 0, "skipped": 0, "rejected": 0, "failed": 0, "overlap": True}
    assert stats.read(client)[JOB]["runs:skipped"] == 1
    assert client.get(LOCK) == b"another-worker"


def test_a_failing_body_is_counted_failed_and_frees_the_lock(client, settings):
    def body(ctx, budget):
        raise ValueError("bug in the job")

    with pytest.raises(ValueError, match="bug in the job"):
        run_job(JOB, settings, 60_000, body)

    assert client.exists(LOCK) == 0
    assert stats.read(client)[JOB]["runs:failed"] == 1


def test_an_unreachable_database_outside_rq_fails_the_run_with_the_job_name(client, settings):
    def body(ctx, budget):
        raise DatabaseUnavailable("connection refused")

    with pytest.raises(DatabaseUnavailable, match=f"^{JOB}: connection refused$"):
        run_job(JOB, settings, 60_000, body)

    assert client.exists(LOCK) == 0
    counts = stats.read(client)[JOB]
    assert counts["runs:failed"] == 1 and "runs:retried" not in counts


def test_each_orchestrator_status_counts_in_its_column():
    results = [
        UpdateResult(status)
        for status in ("updated", "updated", "unchanged", "rejected_locked", "rejected_invalid")
    ] + [UpdateResult("failed")]

    assert summarize(results, due=9) == {
        "updated": 2,
        "skipped": 2,
        "rejected": 1,
        "failed": 1,
        "due": 9,
    }
