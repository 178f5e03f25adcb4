"""A job worker killed at the worst moments, with real rq processes, PostgreSQL and Redis.

A trigger on ts_matches makes the update of one chosen match wait for an
advisory lock the test holds: the worker's transaction has already written the
row (PostgreSQL gave it a transaction id) but has not committed. The test then
kills the worker with SIGKILL, or watches its lease while it waits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
import redis

from app import config
from app.infra import keys
from app.infra.names import QUEUE_LIVE
from app.jobs import match_minute
from app.jobs.queues import enqueue_job
from tests.jobs.matches import add_match, match_rows
from tests.support.rq_worker import worker_argv
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

HELD = "held0001"
FIRST = ["early001", "early002"]
ADVISORY_KEY = 4216
JOB_LOCK = keys.JOB_LOCK.format(match_minute.JOB)
# The worker's update of HELD waiting in the trigger, with a write of its own done.
HELD_IN_TRIGGER = """
SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a USING (pid)
WHERE l.locktype = 'advisory' AND NOT l.granted
  AND a.application_name = 'goalgpt-worker' AND a.backend_xid IS NOT NULL
  AND a.query LIKE 'UPDATE ts_matches%%'
"""


@pytest.fixture
def held_update(db) -> Iterator[psycopg.Connection]:
    """Updates of HELD wait inside the UPDATE for the advisory lock this connection holds."""
    with psycopg.connect(db, autocommit=True) as admin:
        admin.execute(
            f"""
            CREATE OR REPLACE FUNCTION test_hold_update() RETURNS trigger AS $$
            BEGIN PERFORM pg_advisory_xact_lock({ADVISORY_KEY}); RETURN NEW; END
            $$ LANGUAGE plpgsql;
            CREATE TRIGGER test_hold_update AFTER UPDATE ON ts_matches
            FOR EACH ROW WHEN (NEW.id = '{HELD}') EXECUTE FUNCTION test_hold_update();
            """
        )
        admin.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_KEY])
        try:
            yield admin
        finally:
            admin.execute("SELECT pg_advisory_unlock_all()")
            admin.execute("DROP TRIGGER IF EXISTS test_hold_update ON ts_matches")


def _due_matches(database_url: str) -> dict[str, tuple]:
    with psycopg.connect(database_url) as conn:
        for n, match_id in enumerate([*FIRST, HELD]):
            add_match(conn, match_id, minute=1, updated_ago=30 - n)  # HELD goes last
    return match_rows(database_url, "minute, updated_at")


def _start_tick(db, make_env, rq, redis_url, **settings):
    env = make_env(db, ORCHESTRATOR_LOCK_TIMEOUT_MS=600_000, **settings)
    job = enqueue_job(redis.Redis.from_url(redis_url), match_minute.JOB, config.load(env))
    worker = rq(worker_argv(redis_url, [QUEUE_LIVE]), env)
    return env, job, worker


def _backend_gone(database_url: str, pid: int) -> bool:
    with psycopg.connect(database_url) as conn:
        query = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        return conn.execute(query, [pid]).fetchone()[0] == 0


def test_a_worker_killed_after_its_update_and_before_commit_leaves_the_match_unchanged(
    db, held_update, make_env, rq, redis_url
):
    before = _due_matches(db)
    _, _, worker = _start_tick(db, make_env, rq, redis_url)
    [(backend,)] = wait_for(
        lambda: held_update.execute(HELD_IN_TRIGGER).fetchall(), 30, "the update to wait"
    )

    worker.kill_hard()
    held_update.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
    wait_for(lambda: _backend_gone(db, backend), 30, "the dead worker's backend to end")

    after = match_rows(db, "minute, updated_at")
    assert after[HELD] == before[HELD], "the written but uncommitted update must not survive"
    for match_id in FIRST:  # each match is its own transaction: these were committed
        assert after[match_id][0] == 10 and after[match_id][1] > before[match_id][1]


def test_the_job_lease_is_renewed_past_its_length_and_taken_over_after_a_kill(
    db, held_update, make_env, rq, redis_url
):
    lease_s = 1
    _due_matches(db)
    env, _, worker = _start_tick(db, make_env, rq, redis_url, JOB_LOCK_LEASE_S=lease_s)
    [(backend,)] = wait_for(
        lambda: held_update.execute(HELD_IN_TRIGGER).fetchall(), 30, "the update to wait"
    )
    client = redis.Redis.from_url(redis_url)
    token = client.get(JOB_LOCK)

    watched_since = time.monotonic()
    while time.monotonic() - watched_since < 3 * lease_s:
        ttl_ms = client.pttl(JOB_LOCK)
        assert 0 < ttl_ms <= lease_s * 1000, "the lease lapsed while the job was alive"
        time.sleep(0.05)
    assert client.get(JOB_LOCK) == token, "the same run kept it"
    skipped = match_minute.tick(config.load(env))  # a second run meanwhile is refused

    worker.kill_hard()
    killed_at = time.monotonic()
    assert client.pttl(JOB_LOCK) <= lease_s * 1000
    wait_for(lambda: not client.exists(JOB_LOCK), lease_s + 2, "the dead run's lease to end")
    freed_after_s = time.monotonic() - killed_at
    held_update.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_KEY])
    wait_for(lambda: _backend_gone(db, backend), 30, "the dead worker's backend to end")
    taken_over = match_minute.tick(config.load(env))

    assert skipped["overlap"] is True
    assert freed_after_s <= lease_s + 1.5
    # The next run proceeds; HELD is still due because the dead run never committed it
    # (its per-match lock, ORCHESTRATOR_LOCK_TIMEOUT_MS long, may still make it wait).
    assert "overlap" not in taken_over
    assert taken_over["due"] == 1, taken_over
