"""Failures mid-tick with real processes: a worker killed with SIGKILL, PostgreSQL going down.

Both tests stop a tick half-way the same way: the sixth due match is held by a
row lock of the test's own, so the tick has committed five updates and waits
on the sixth when the failure strikes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import psycopg
import pytest
import redis
from rq import Queue
from rq.job import Job

from app import config, migrations
from app.infra import job_stats as stats
from app.infra.names import QUEUE_LIVE
from app.jobs import match_minute
from app.jobs.queues import enqueue_job
from tests.jobs.matches import add_match, match_rows
from tests.support.pg_outage import restart, stop_keeping_data
from tests.support.rq_worker import RQProcess, worker_argv
from tests.support.servers import free_port
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

MATCHES = [f"match{n:04}" for n in range(12)]
HELD = MATCHES[5]
DUE_MINUTE = 10  # kickoff 10.5 minutes ago


def _add_due_matches(database_url: str) -> dict[str, tuple]:
    with psycopg.connect(database_url) as conn:
        for n, match_id in enumerate(MATCHES):
            # Oldest update first: the tick takes the matches in this order.
            add_match(conn, match_id, minute=1, updated_ago=30 - n)
    return match_rows(database_url, "minute, updated_at")


def _hold_row(database_url: str, match_id: str) -> psycopg.Connection:
    holder = psycopg.connect(database_url)
    holder.execute("SELECT 1 FROM ts_matches WHERE id = %s FOR UPDATE", (match_id,))
    return holder


class HalfTick(NamedTuple):
    connection: redis.Redis
    holder: psycopg.Connection  # holds the row HELD until the test lets it go
    job: Job
    worker: RQProcess


def _tick_stopped_at_the_held_row(
    rq: Callable[..., RQProcess],
    database_url: str,
    redis_url: str,
    env: dict,
    before: dict[str, tuple],
    **worker: object,
) -> HalfTick:
    """A tick run by a new worker (`worker`: worker_argv's options) that has committed
    five updates and waits on the row HELD."""
    connection = redis.Redis.from_url(redis_url)
    holder = _hold_row(database_url, HELD)
    job = enqueue_job(connection, match_minute.JOB, config.load(env))
    running = rq(worker_argv(redis_url, [QUEUE_LIVE], **worker), env)
    wait_for(lambda: len(_updated(database_url, before)) == 5, 30, "five updates")
    return HalfTick(connection, holder, job, running)


def _updated(database_url: str, before: dict[str, tuple]) -> list[str]:
    """Matches the tick has written; asserts each one is whole (minute and timestamp)."""
    done = []
    for match_id, (minute, updated_at) in match_rows(database_url, "minute, updated_at").items():
        if (minute, updated_at) == before[match_id]:
            continue
        assert minute == DUE_MINUTE and updated_at > before[match_id][1], match_id
        done.append(match_id)
    return sorted(done)


def test_a_worker_killed_with_sigkill_mid_tick_half_updates_nothing_and_the_job_is_not_lost(
    db, make_env, rq, redis_url
):
    before = _add_due_matches(db)
    env = make_env(
        db,
        ORCHESTRATOR_LOCK_TIMEOUT_MS=2000,
        ORCHESTRATOR_MAX_RETRIES=20,
        JOB_LOCK_LEASE_S=2,
        WORKER_HEARTBEAT_GRACE_S=2,
    )
    connection, holder, job, doomed = _tick_stopped_at_the_held_row(
        rq, db, redis_url, env, before, extra=["--job-monitoring-interval", "1"]
    )
    queue = Queue(QUEUE_LIVE, connection=connection)
    wait_for(doomed.children, 5, "the work horse")

    doomed.kill_hard()
    holder.rollback()
    holder.close()

    assert _updated(db, before) == MATCHES[:5]
    assert job.get_status(refresh=True) == "started"  # visible: started, nobody running it
    # Another worker's maintenance pass finds it abandoned within seconds, not minutes.
    rescuer = rq(
        worker_argv(
            redis_url, [QUEUE_LIVE], extra=["--worker-ttl", "16", "--maintenance-interval", "1"]
        ),
        env,
    )
    wait_for(lambda: job.get_status(refresh=True) == "failed", 30, "the abandoned job to fail")
    assert job.id in queue.failed_job_registry
    assert "AbandonedJobError" in job.latest_result().exc_string
    assert stats.read(connection)[match_minute.JOB]["runs:abandoned"] == 1
    assert _updated(db, before) == MATCHES[:5]

    # The next tick covers the rest.
    next_tick = enqueue_job(connection, match_minute.JOB, config.load(env))
    wait_for(lambda: next_tick.get_status(refresh=True) == "finished", 30, rescuer.log())
    assert next_tick.return_value()["updated"] == 7
    assert _updated(db, before) == MATCHES


def test_postgres_down_mid_tick_fails_the_run_and_rq_retries_it_once_postgres_is_back(
    start_postgres, make_env, rq, redis_url
):
    server = start_postgres()
    database_url = server.url()
    migrations.apply(database_url)
    before = _add_due_matches(database_url)
    env = make_env(
        database_url,
        ORCHESTRATOR_LOCK_TIMEOUT_MS=30_000,
        ORCHESTRATOR_MAX_RETRIES=1,
        POOL_TIMEOUT_S=1,
        JOB_RETRY_MAX=5,
        JOB_RETRY_INTERVAL_S=1,
    )
    connection, holder, job, worker = _tick_stopped_at_the_held_row(
        rq, database_url, redis_url, env, before, scheduler=True
    )

    command = stop_keeping_data(server)
    holder.close()
    wait_for(lambda: job.get_status(refresh=True) == "scheduled", 30, "RQ to schedule a retry")
    restart(server, command)

    wait_for(lambda: job.get_status(refresh=True) == "finished", 60, worker.log())
    assert _updated(database_url, before) == MATCHES
    assert job.return_value()["updated"] == 7
    counts = stats.read(connection)[match_minute.JOB]
    assert counts["runs:retried"] >= 1
    assert counts["runs:succeeded"] == 1
    assert counts.get("runs:failed", 0) == 0


def test_a_job_that_never_reaches_postgres_is_retried_job_retry_max_times_then_fails(
    make_env, rq, redis_url
):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    # Interval 0: RQ requeues at once, so a burst worker without a scheduler runs every retry.
    env = make_env(dead, POOL_TIMEOUT_S="0.3", JOB_RETRY_MAX=2, JOB_RETRY_INTERVAL_S=0)
    connection = redis.Redis.from_url(redis_url)
    job = enqueue_job(connection, match_minute.JOB, config.load(env))

    worker = rq(worker_argv(redis_url, [QUEUE_LIVE], burst=True), env)
    assert worker.wait(timeout=60) == 0

    job.refresh()
    assert job.get_status() == "failed", worker.log()
    assert job.number_of_retries == 2
    assert "gave up after 2 retries" in job.latest_result().exc_string
    counts = stats.read(connection)[match_minute.JOB]
    assert (counts["runs:retried"], counts["runs:failed"]) == (2, 1)
