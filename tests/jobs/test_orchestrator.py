"""The orchestrator on real PostgreSQL and Redis: validation, locks, retries, races."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue

from app.infra import keys
from app.infra.names import QUEUE_LIVE
from app.jobs.orchestrator import update_match
from app.jobs.queues import enqueue_update
from tests.jobs.matches import add_match, one_match
from tests.support.rq_worker import worker_argv
from tests.support.servers import free_port
from tests.support.waiting import wait_for

INVALID_IDS = [
    pytest.param(None, "missing", id="none"),
    pytest.param("", "empty", id="empty"),
    pytest.param(123456, "expected text, got int", id="int"),
    pytest.param(12.5, "expected text, got float", id="float"),
    pytest.param(b"abc123", "expected text, got bytes", id="bytes"),
    pytest.param(["abc123"], "expected text, got list", id="list"),
    pytest.param({"id": "abc123"}, "expected text, got dict", id="dict"),
    pytest.param(True, "expected text, got bool", id="bool"),
    pytest.param("ABC123", "must be 6-32", id="uppercase"),
    pytest.param("abc12", "must be 6-32", id="too-short"),
    pytest.param("a" * 33, "must be 6-32", id="too-long"),
    pytest.param("abc-123", "must be 6-32", id="dash"),
    pytest.param(" abc123", "must be 6-32", id="leading-space"),
    pytest.param("abc123\n", "must be 6-32", id="trailing-newline"),
    pytest.param("ábc123", "must be 6-32", id="non-ascii"),
    pytest.param("abc123'; DROP TABLE ts_matches; --", "must be 6-32", id="injection"),
    pytest.param("null", "must be 6-32", id="the-word-null"),
    pytest.param("zzzz9999", "unknown match 'zzzz9999'", id="unknown"),
]


@pytest.fixture
def match(db: str) -> str:
    with psycopg.connect(db) as conn:
        add_match(conn, "match0001", status="first_half", minute=10)
    return "match0001"


@pytest.mark.parametrize(("match_id", "reason"), INVALID_IDS)
def test_invalid_match_id_of_every_kind_is_rejected_with_a_reason_not_raised(
    db, match, make_ctx, match_id, reason
):
    ctx = make_ctx(db)
    before = one_match(db, match)

    result = update_match(match_id, {"minute": 11}, ctx=ctx)

    assert result.status == "rejected_invalid"
    assert result.reason == "invalid_match_id"  # the seed's code; the human text is detail
    assert reason in result.detail
    assert result.fields_updated == ()
    assert one_match(db, match) == before
    assert ctx.redis.keys(keys.MATCH_LOCK.format("*")) == []


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, "no changes given"),
        ("minute=11", "changes must be a mapping"),
        ({"nickname": "x"}, "unknown field 'nickname'"),
        ({"minute": True}, "minute must be a whole number"),
        ({"minute": 131}, "minute must be a whole number"),
        ({"minute": "11"}, "minute must be a whole number"),
        ({"status": "abandoned"}, "unknown status 'abandoned'"),
        ({"home_score": -1}, "home_score must be a whole number of 0 or more"),
        ({"second_half_started_at": datetime(2026, 5, 1, 18, 0)}, "timezone-aware"),
        ({"incidents": {"goal": 1}}, "incidents must be a list"),
        ({"statistics_first_half": {"shots": {1, 2}}}, "must hold only JSON values"),
        ({"incidents": [{"xg": float("nan")}]}, "must hold only JSON values"),
        ({"data_completeness": {"first_half": "yes"}}, "true/false flags"),
    ],
)
def test_invalid_changes_are_rejected_before_touching_the_database(
    db, match, make_ctx, changes, reason
):
    before = one_match(db, match)
    result = update_match(match, changes, ctx=make_ctx(db))
    assert result.status == "rejected_invalid"
    assert reason in result.detail
    assert one_match(db, match) == before


def test_update_applies_every_change_in_one_transaction_and_names_the_fields(db, match, make_ctx):
    before = one_match(db, match)
    started = datetime(2026, 5, 1, 19, 0, tzinfo=UTC)

    result = update_match(
        match,
        {"status": "second_half", "minute": 46, "home_score": 1, "second_half_started_at": started},
        ctx=make_ctx(db),
    )

    assert result.status == "updated"
    assert result.fields_updated == ("home_score", "minute", "second_half_started_at", "status")
    after = one_match(db, match)
    assert (after["status"], after["minute"], after["home_score"]) == ("second_half", 46, 1)
    assert after["second_half_started_at"] == started
    assert after["updated_at"] > before["updated_at"]


def test_applying_the_same_changes_twice_reports_unchanged_and_writes_nothing(db, match, make_ctx):
    ctx = make_ctx(db)
    changes = {"minute": 12, "incidents": [{"type": "goal", "minute": 11, "team": "home"}]}
    assert update_match(match, changes, ctx=ctx).status == "updated"
    written = one_match(db, match)

    again = update_match(match, changes, ctx=ctx)

    assert again.status == "unchanged"
    assert again.fields_updated == ()
    assert one_match(db, match) == written


def test_only_the_fields_that_differ_are_written(db, match, make_ctx):
    result = update_match(match, {"minute": 10, "home_score": 2}, ctx=make_ctx(db))
    assert result.fields_updated == ("home_score",)


def test_a_column_missing_from_the_schema_is_rejected_invalid(db, match, make_ctx):
    result = update_match(match, {"statistics_second_half": {"shots": [1, 2]}}, ctx=make_ctx(db))
    assert result.status == "rejected_invalid"
    assert "statistics_second_half" in result.detail


def test_a_failed_expectation_changes_nothing(db, match, make_ctx):
    before = one_match(db, match)
    result = update_match(match, {"minute": 30}, expect={"status": "half_time"}, ctx=make_ctx(db))
    assert result.status == "unchanged"
    assert "expected 'half_time'" in result.detail
    assert one_match(db, match) == before


def lock_attempts(client: redis.Redis) -> int:
    """Counted by Redis itself since its stats were reset: each attempt is one SET NX."""
    return client.info("commandstats").get("cmdstat_set", {}).get("calls", 0)


@pytest.mark.parametrize("retries", [0, 2])
def test_a_busy_match_gives_up_as_rejected_locked_after_the_configured_retries(
    db, match, make_ctx, retries
):
    ctx = make_ctx(db, ORCHESTRATOR_MAX_RETRIES=retries)
    held = ctx.redis.lock(keys.MATCH_LOCK.format(match), timeout=30, thread_local=False)
    assert held.acquire(blocking=False)
    before = one_match(db, match)
    ctx.redis.config_resetstat()

    result = update_match(match, {"minute": 11}, ctx=ctx)

    assert result.status == "rejected_locked"
    assert one_match(db, match) == before
    assert lock_attempts(ctx.redis) == retries + 1
    held.release()


def test_a_busy_match_is_updated_when_its_lock_frees_during_the_backoff(db, match, make_ctx):
    ctx = make_ctx(db, ORCHESTRATOR_MAX_RETRIES=8)
    held = ctx.redis.lock(keys.MATCH_LOCK.format(match), timeout=30, thread_local=False)
    assert held.acquire(blocking=False)
    ctx.redis.config_resetstat()

    with ThreadPoolExecutor(1) as pool:
        update = pool.submit(update_match, match, {"minute": 11}, ctx=ctx)
        wait_for(lambda: lock_attempts(ctx.redis), 5, "a first attempt to be refused", every=0.01)
        held.release()
        result = update.result(timeout=30)

    assert result.status == "updated"
    assert one_match(db, match)["minute"] == 11


def test_the_match_lock_the_orchestrator_holds_expires_after_the_lock_timeout(db, match, make_ctx):
    ctx = make_ctx(db, ORCHESTRATOR_LOCK_TIMEOUT_MS=1500, ORCHESTRATOR_MAX_RETRIES=0)
    key = keys.MATCH_LOCK.format(match)
    with psycopg.connect(db) as holder, ThreadPoolExecutor(1) as pool:
        # The row is held, so the update waits inside its Redis lock where we can look at it.
        holder.execute("SELECT 1 FROM ts_matches WHERE id = %s FOR UPDATE", (match,))
        update = pool.submit(update_match, match, {"minute": 11}, ctx=ctx)
        wait_for(lambda: ctx.redis.exists(key), 5, "the orchestrator to take the match lock")
        expires_in_ms = ctx.redis.pttl(key)
        assert update.result(timeout=10).status == "rejected_locked"
    assert 0 < expires_in_ms <= 1500  # a killed updater frees the match within the timeout
    assert not ctx.redis.exists(key)  # released by the updater itself when done


def test_a_row_held_in_the_database_is_rejected_locked_within_the_lock_timeout(db, match, make_ctx):
    ctx = make_ctx(db, ORCHESTRATOR_LOCK_TIMEOUT_MS=200, ORCHESTRATOR_MAX_RETRIES=1)
    with psycopg.connect(db) as holder:
        holder.execute("SELECT 1 FROM ts_matches WHERE id = %s FOR UPDATE", (match,))
        result = update_match(match, {"minute": 11}, ctx=ctx)
    assert result.status == "rejected_locked"
    assert "locked in the database" in result.detail
    assert one_match(db, match)["minute"] == 10


def test_two_racing_updates_on_one_match_are_serialized_and_both_kept(db, match, make_ctx):
    ctx = make_ctx(db, ORCHESTRATOR_MAX_RETRIES=10)
    results = {}
    with psycopg.connect(db) as holder:
        # Hold the row so both updates are in flight at once before either can finish.
        holder.execute("SELECT 1 FROM ts_matches WHERE id = %s FOR UPDATE", (match,))
        threads = [
            threading.Thread(
                target=lambda n=name, c=changes: results.__setitem__(
                    n, update_match(match, c, ctx=ctx)
                )
            )
            for name, changes in (("home", {"home_score": 2}), ("away", {"away_score": 3}))
        ]
        for thread in threads:
            thread.start()
        threading.Event().wait(0.3)
    for thread in threads:
        thread.join(timeout=30)

    assert results["home"].status == results["away"].status == "updated"
    assert results["home"].fields_updated == ("home_score",)
    assert results["away"].fields_updated == ("away_score",)
    after = one_match(db, match)
    assert (after["home_score"], after["away_score"]) == (2, 3)


def test_a_racing_update_sees_the_winner_and_does_not_overwrite_it(db, match, make_ctx):
    ctx = make_ctx(db, ORCHESTRATOR_MAX_RETRIES=10)
    results = {}
    gate = threading.Barrier(2)

    def update(name: str, changes: dict) -> None:
        gate.wait()
        results[name] = update_match(match, changes, expect={"status": "first_half"}, ctx=ctx)

    threads = [
        threading.Thread(target=update, args=("half_time", {"status": "half_time", "minute": 45})),
        threading.Thread(target=update, args=("finished", {"status": "finished", "minute": 90})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    statuses = sorted(result.status for result in results.values())
    assert statuses == ["unchanged", "updated"]
    winner = next(name for name, result in results.items() if result.status == "updated")
    after = one_match(db, match)
    assert after["status"] == winner
    assert after["minute"] == (45 if winner == "half_time" else 90)


def test_an_unreachable_database_fails_with_a_reason_instead_of_raising(make_ctx):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    ctx = make_ctx(dead, POOL_TIMEOUT_S="0.3", ORCHESTRATOR_MAX_RETRIES=1)

    result = update_match("match0001", {"minute": 11}, ctx=ctx)

    assert result.status == "failed"
    assert result.unavailable
    assert result.reason == "database_unavailable"
    assert result.detail.startswith("database unavailable")


def test_an_unreachable_redis_fails_with_a_reason_instead_of_raising(db, match, make_ctx):
    ctx = make_ctx(db, ORCHESTRATOR_MAX_RETRIES=0)
    ctx.redis.close()
    ctx.redis = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))

    result = update_match(match, {"minute": 11}, ctx=ctx)

    assert (result.status, result.unavailable) == ("failed", True)
    assert result.reason == "redis_unavailable"
    assert result.detail.startswith("redis unavailable")


def test_update_match_run_by_a_real_worker_rejects_bad_ids_instead_of_failing(
    db, match, make_env, rq, redis_url
):
    connection = redis.Redis.from_url(redis_url)
    good = enqueue_update(connection, match, {"minute": 20})
    bad = [enqueue_update(connection, bad_id, {"minute": 20}) for bad_id in (None, "", "NOPE!")]

    worker = rq(worker_argv(redis_url, [QUEUE_LIVE], burst=True), make_env(db))
    assert worker.wait(timeout=60) == 0

    assert good.return_value().status == "updated"
    for job in bad:
        job.refresh()
        assert job.get_status() == "finished", worker.log()
        assert job.return_value().status == "rejected_invalid"
    assert Queue(QUEUE_LIVE, connection=connection).failed_job_registry.count == 0
    assert one_match(db, match)["minute"] == 20


def test_job_connections_tell_the_database_they_are_goalgpt_worker(db, make_ctx):
    with make_ctx(db).pool.connection() as conn:
        name = conn.execute(
            "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()"
        ).fetchone()[0]
    assert name == "goalgpt-worker"
