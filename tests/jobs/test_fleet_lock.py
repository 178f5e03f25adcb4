"""The job runner's fleet lock and lease on a real Redis, in this process.

The lease is short on purpose (1 s): a lock that was not renewed would be gone
after it, so seeing the key alive at three leases proves the renewal. The
database is never reached: a job context opens its pool in the background, and
these bodies do not use it.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
import redis
from rq import Queue, SimpleWorker

from app import config
from app.infra import job_stats as stats
from app.infra import keys
from app.infra.errors import DatabaseUnavailable
from app.infra.lock import RedisLock
from app.jobs import runner
from app.jobs.orchestrator import UpdateResult
from app.jobs.runner import Budget, FleetLock, run_job, summarize
from tests.support.servers import RedisServer, free_port
from tests.support.waiting import wait_for

JOB = "edge_job"
LOCK = keys.JOB_LOCK.format(JOB)
LEASE_S = 1  # short, so that outliving three leases takes three seconds
BODY_S = 0.2  # how long `_slow` job bodies run: a duration to record


@pytest.fixture
def client(redis_url):
    return redis.Redis.from_url(redis_url)


def _settings(redis_url: str, **extra: str) -> config.Settings:
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    return config.load(
        {
            "DATABASE_URL": nowhere,
            "REDIS_URL": redis_url,
            "RQ_REDIS_URL": redis_url,
            "JOB_LOCK_LEASE_S": "1",
        }
        | extra
    )


@pytest.fixture
def settings(redis_url):
    return _settings(redis_url)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def _runner_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == runner.__name__]


def _runs_for(client: redis.Redis) -> dict[str, float]:
    """The job's duration buckets: how many runs ended within 0.1 s, 0.5 s, 1 s."""
    counts = stats.read(client)[JOB]
    return {bound: counts.get(f"bucket:{bound}", 0) for bound in ("0.1", "0.5", "1")}


def test_a_held_lease_is_renewed_past_its_length_and_freed_on_release(client):
    lock = FleetLock(client, JOB, lease_s=LEASE_S)
    assert lock.acquire()
    held_since = time.monotonic()
    try:
        while time.monotonic() - held_since < 3 * LEASE_S:  # watched for three leases
            ttl_ms = client.pttl(LOCK)
            assert 0 < ttl_ms <= LEASE_S * 1000, "the lease lapsed while its holder was alive"
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


def test_a_run_hands_its_body_the_context_holding_a_lease_of_job_lock_lease_s(client, settings):
    seen = {}

    def body(ctx, budget):
        seen["lease_ms"] = ctx.redis.pttl(LOCK)
        return summarize([])

    run_job(JOB, settings, 60_000, body)

    assert 0 < seen["lease_ms"] <= 1000


def _slow(outcome: BaseException | None = None):
    def body(ctx, budget):
        time.sleep(BODY_S)
        if outcome is not None:
            raise outcome
        return summarize([UpdateResult("updated")])

    return body


@pytest.mark.parametrize(
    "outcome, raised",
    [
        (None, None),
        (ValueError("bug in the job"), ValueError),
        (DatabaseUnavailable("connection refused"), DatabaseUnavailable),
    ],
    ids=["succeeded", "failed", "unreachable"],
)
def test_a_run_records_how_long_its_body_took(client, settings, outcome, raised):
    if raised is None:
        run_job(JOB, settings, 60_000, _slow())
    else:
        with pytest.raises(raised):
            run_job(JOB, settings, 60_000, _slow(outcome))

    counts = stats.read(client)[JOB]
    assert BODY_S <= counts["duration_sum"] < 0.5
    assert _runs_for(client) == {"0.1": 0, "0.5": 1, "1": 1}


def test_a_query_refused_for_lack_of_slots_is_counted_once_for_the_jobs(client, settings):
    def body(ctx, budget):
        raise psycopg.errors.TooManyConnections("sorry, too many clients already")

    with pytest.raises(DatabaseUnavailable, match="too many clients"):
        run_job(JOB, settings, 60_000, body)

    assert stats.read_refusals(client) == {"query": 1.0}


def test_a_skipped_run_says_so_in_the_worker_log(client, settings, caplog):
    client.set(LOCK, "another-worker", ex=30)

    with caplog.at_level(logging.INFO, logger=runner.__name__):
        run_job(JOB, settings, 60_000, lambda ctx, budget: None)

    assert _runner_log(caplog) == [f"{JOB}: previous run still in progress, skipping this one"]


def test_a_finished_run_logs_its_summary_and_duration(client, settings, caplog):
    with caplog.at_level(logging.INFO, logger=runner.__name__):
        run_job(JOB, settings, 60_000, _slow())

    (message,) = _runner_log(caplog)
    summary = {"updated": 1, "skipped": 0, "rejected": 0, "failed": 0}
    assert message.startswith(f"{JOB}: {summary} in 0.")
    assert BODY_S <= float(message.rpartition(" in ")[2].rstrip("s")) < 0.5


def _unreachable_database_job(redis_url: str, retry_max: int) -> object:
    """An RQ job whose every run finds the database unreachable."""
    settings = _settings(redis_url, JOB_RETRY_MAX=str(retry_max), JOB_RETRY_INTERVAL_S="0")

    def body(ctx, budget):
        raise DatabaseUnavailable("connection refused")

    return run_job(JOB, settings, 60_000, body)


@pytest.mark.parametrize("retry_max", [1, 2])
def test_inside_rq_an_unreachable_database_is_retried_job_retry_max_times_then_fails(
    client, redis_url, retry_max, caplog
):
    # An in-process RQ worker: the same path as tests/jobs/test_resilience.py, seen by mutmut.
    queue = Queue("edge", connection=client)
    job = queue.enqueue(_unreachable_database_job, redis_url, retry_max)

    # The worker installs its own SIGINT/SIGTERM handlers: give pytest's (and the lab's) back.
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with caplog.at_level(logging.WARNING, logger=runner.__name__):
            SimpleWorker([queue], connection=client).work(burst=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    job.refresh()
    assert job.get_status() == "failed"
    assert job.number_of_retries == retry_max
    assert (
        f"DatabaseUnavailable: {JOB}: gave up after {retry_max} retries: connection refused"
        in job.latest_result().exc_string
    )
    counts = stats.read(client)[JOB]
    assert (counts["runs:retried"], counts["runs:failed"]) == (retry_max, 1)
    assert counts["bucket:0.1"] == retry_max + 1, "every run's duration is recorded"
    retrying = f"{JOB}: database unavailable (connection refused); RQ will retry the job"
    assert _runner_log(caplog) == [retrying] * retry_max


def test_a_lease_taken_away_is_logged_as_an_error_and_left_to_its_new_holder(client, caplog):
    lock = FleetLock(client, JOB, lease_s=1)
    assert lock.acquire()
    client.set(LOCK, "someone-else")
    with caplog.at_level(logging.WARNING, logger=runner.__name__):
        assert lock.lost.wait(timeout=2)
        lock.release()

    # Releasing a lease that is someone else's now is a no-op: nothing more to say.
    assert _runner_log(caplog) == [f"fleet lock {LOCK} expired while held: stopping early"]
    assert [r.levelname for r in caplog.records if r.name == runner.__name__] == ["ERROR"]
    assert client.get(LOCK) == b"someone-else"


def test_redis_gone_while_a_lease_is_held_is_logged_and_release_does_not_raise(own_redis, caplog):
    lock = FleetLock(redis.Redis.from_url(own_redis.url), JOB, lease_s=LEASE_S)
    assert lock.acquire()
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger=runner.__name__):
        wait_for(lambda: _runner_log(caplog), 5, "a renewal to fail", every=0.05)
        lock.release()

    assert not lock.lost.is_set(), "a Redis error is not a lost lease"
    renew, release = _runner_log(caplog)[0], _runner_log(caplog)[-1]
    assert renew.startswith(f"could not renew fleet lock {LOCK}: ")
    assert release.startswith(f"fleet lock {LOCK} not released cleanly: ")
    assert "Connection" in renew and "Connection" in release


def test_a_renewal_that_failed_once_does_not_end_the_renewing(redis_url, caplog):
    """Redis unanswering for a moment (CLIENT PAUSE beyond the client's timeout): the
    renewal after it still runs, so the lease outlives three of its lengths."""
    admin = redis.Redis.from_url(redis_url)
    lock = FleetLock(redis.Redis.from_url(redis_url, socket_timeout=0.1), JOB, lease_s=LEASE_S)
    assert lock.acquire()
    try:
        with caplog.at_level(logging.WARNING, logger=runner.__name__):
            admin.client_pause(700)
            wait_for(lambda: _runner_log(caplog), 5, "a renewal to meet the pause", every=0.05)
            time.sleep(3 * LEASE_S)  # three leases: gone unless renewed after the pause
        assert admin.exists(LOCK) == 1
        assert not lock.lost.is_set()
    finally:
        lock.release()


def test_a_renewed_lock_knows_its_new_expiry(client):
    held = RedisLock.try_acquire(client, LOCK, 1.0)
    assert held is not None
    before = time.monotonic()
    assert held.renew(5.0)
    assert before + 5.0 <= held.expires_at <= time.monotonic() + 5.0
    assert 4000 < client.pttl(LOCK) <= 5000
    assert held.release()
