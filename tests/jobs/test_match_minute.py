"""The match-minute tick: which matches are due, the per-tick cap, the overlap guard."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest
import redis

from app import config, seed_data
from app.infra import job_stats as stats
from app.infra import keys
from app.infra.names import QUEUE_LIVE
from app.jobs import match_minute
from app.jobs.queues import enqueue_job
from tests.jobs.matches import add_match, match_rows
from tests.support.rq_worker import worker_argv
from tests.support.waiting import wait_for


def _changed(before: dict, after: dict) -> list[str]:
    return sorted(match_id for match_id in before if before[match_id] != after[match_id])


@pytest.fixture
def five_hundred_live(db: str) -> str:
    seed_data.load(db, matches=500, predictions=0, live=500, seed=4, now=datetime.now(UTC))
    return db


@pytest.mark.slow
def test_500_live_matches_are_updated_at_most_the_cap_per_tick_read_from_the_environment(
    five_hundred_live, make_env, rq, redis_url
):
    db = five_hundred_live
    connection = redis.Redis.from_url(redis_url)

    def tick_in_a_real_worker(**env: int) -> tuple[dict, list[str]]:
        before = match_rows(db, "minute, updated_at")
        job = enqueue_job(connection, match_minute.JOB, config.load(make_env(db)))
        worker = rq(worker_argv(redis_url, [QUEUE_LIVE], burst=True), make_env(db, **env))
        assert worker.wait(timeout=90) == 0
        assert job.get_status(refresh=True) == "finished", worker.log()
        return job.return_value(), _changed(before, match_rows(db, "minute, updated_at"))

    summary, changed = tick_in_a_real_worker(MATCH_MINUTE_BATCH_SIZE=100, MAX_UPDATES_PER_TICK=50)
    assert len(changed) == 50
    assert (summary["updated"], summary["due"], summary["skipped"]) == (50, 50, 0)

    summary, changed = tick_in_a_real_worker(MATCH_MINUTE_BATCH_SIZE=20, MAX_UPDATES_PER_TICK=50)
    assert len(changed) == 20
    assert summary["updated"] == 20


def test_the_due_minute_follows_kickoff_and_the_second_half_marker(db, make_ctx):
    with psycopg.connect(db) as conn:
        add_match(conn, "firsthalf1", kickoff_ago=10.5, minute=8)
        add_match(conn, "nominute01", kickoff_ago=3.2, minute=None)
        add_match(conn, "longfirst1", kickoff_ago=80, minute=44)
        add_match(conn, "secondhalf", status="second_half", second_half_ago=5.5, minute=47)
        add_match(conn, "longsecond", status="second_half", second_half_ago=70, minute=88)
        add_match(conn, "nomarker01", status="second_half", kickoff_ago=70, minute=50)
        add_match(conn, "halftime01", status="half_time", kickoff_ago=50, minute=45)
        add_match(conn, "finished01", status="finished", kickoff_ago=200, minute=90)
        add_match(conn, "current001", kickoff_ago=10.5, minute=10)

    summary = match_minute.tick(make_ctx(db).settings)

    assert match_rows(db, "minute") == {
        "firsthalf1": (10,),
        "nominute01": (3,),
        "longfirst1": (45,),
        "secondhalf": (50,),
        "longsecond": (90,),
        "nomarker01": (50,),
        "halftime01": (45,),
        "finished01": (90,),
        "current001": (10,),
    }
    assert summary == {
        "updated": 5,
        "skipped": 0,
        "rejected": 0,
        "failed": 0,
        "due": 5,
        "deferred": 0,
    }


def test_the_least_recently_updated_matches_go_first_and_the_rest_wait(db, make_ctx):
    with psycopg.connect(db) as conn:
        for n, updated_ago in enumerate((1, 4, 2, 3)):
            add_match(conn, f"match{n:04}", minute=1, updated_ago=updated_ago)
    settings = make_ctx(db, MAX_UPDATES_PER_TICK=2).settings

    match_minute.tick(settings)
    assert match_rows(db, "minute") == {
        "match0000": (1,),
        "match0001": (10,),
        "match0002": (1,),
        "match0003": (10,),
    }
    match_minute.tick(settings)
    assert {minute for (minute,) in match_rows(db, "minute").values()} == {10}


def test_a_tick_is_skipped_and_counted_when_the_fleet_lock_is_held(db, make_ctx):
    ctx = make_ctx(db)
    with psycopg.connect(db) as conn:
        add_match(conn, "firsthalf1", minute=1)
    held = ctx.redis.lock(keys.JOB_LOCK.format(match_minute.JOB), timeout=30)
    assert held.acquire(blocking=False)

    summary = match_minute.tick(ctx.settings)

    assert summary["overlap"] is True
    assert summary["updated"] == 0
    assert match_rows(db, "minute")["firsthalf1"] == (1,)
    assert stats.read(ctx.redis)[match_minute.JOB]["runs:skipped"] == 1


@pytest.mark.slow
def test_a_tick_started_while_the_previous_one_runs_on_another_worker_is_skipped(
    db, make_env, rq, redis_url
):
    with psycopg.connect(db) as conn:
        for n in range(3):
            add_match(conn, f"match{n:04}", minute=1, updated_ago=3 - n)
    env = make_env(db, ORCHESTRATOR_LOCK_TIMEOUT_MS=30_000, JOB_LOCK_LEASE_S=3)
    connection = redis.Redis.from_url(redis_url)
    settings = config.load(env)
    holder = psycopg.connect(db)
    # The second match is held, so the first tick stops there, mid-run, until released.
    holder.execute("SELECT 1 FROM ts_matches WHERE id = 'match0001' FOR UPDATE")
    first = enqueue_job(connection, match_minute.JOB, settings)
    rq(worker_argv(redis_url, [QUEUE_LIVE]), env)
    wait_for(lambda: match_rows(db, "minute")["match0000"] == (10,), 30, "the first tick to start")

    second = enqueue_job(connection, match_minute.JOB, settings)
    other = rq(worker_argv(redis_url, [QUEUE_LIVE], burst=True), env)
    assert other.wait(timeout=60) == 0
    assert second.return_value()["overlap"] is True

    holder.rollback()
    holder.close()
    wait_for(lambda: first.get_status(refresh=True) == "finished", 30, "the first tick to end")
    assert first.return_value()["updated"] == 3
    counts = stats.read(connection)[match_minute.JOB]
    assert (counts["runs:succeeded"], counts["runs:skipped"]) == (1, 1)


def test_a_tick_stops_starting_updates_once_its_time_budget_is_spent(db, make_ctx):
    with psycopg.connect(db) as conn:
        for n in range(6):
            add_match(conn, f"match{n:04}", minute=1, updated_ago=10 - n)
    settings = make_ctx(
        db,
        MATCH_MINUTE_TIMEOUT_MS=1000,
        ORCHESTRATOR_LOCK_TIMEOUT_MS=1500,
        ORCHESTRATOR_MAX_RETRIES=0,
    ).settings
    with psycopg.connect(db) as holder:
        holder.execute("SELECT 1 FROM ts_matches WHERE id = 'match0001' FOR UPDATE")
        summary = match_minute.tick(settings)

    assert (summary["updated"], summary["skipped"], summary["deferred"]) == (1, 1, 4)
    assert sorted(match_rows(db, "minute").values()) == [(1,)] * 5 + [(10,)]


@pytest.mark.slow
def test_rq_interrupts_a_tick_that_outlives_its_timeout_and_the_next_one_can_start(
    db, make_env, rq, redis_url
):
    with psycopg.connect(db) as conn:
        add_match(conn, "match0000", minute=1)
    env = make_env(db, MATCH_MINUTE_TIMEOUT_MS=1000, ORCHESTRATOR_LOCK_TIMEOUT_MS=60_000)
    connection = redis.Redis.from_url(redis_url)
    with psycopg.connect(db) as holder:
        holder.execute("SELECT 1 FROM ts_matches WHERE id = 'match0000' FOR UPDATE")
        job = enqueue_job(connection, match_minute.JOB, config.load(env))
        worker = rq(worker_argv(redis_url, [QUEUE_LIVE], burst=True), env)
        assert worker.wait(timeout=30) == 0

    assert job.timeout == 1
    assert job.get_status(refresh=True) == "failed"
    assert "JobTimeoutException" in job.latest_result().exc_string
    assert not connection.exists(keys.JOB_LOCK.format(match_minute.JOB))
    assert stats.read(connection)[match_minute.JOB]["runs:failed"] == 1
    assert match_rows(db, "minute")["match0000"] == (1,)
