"""`pytest checks/` against the live service: green when healthy, readable when Redis is
down or no rq cron runs."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
import redis

from app.infra import fleet_registry
from app.migrations import apply
from tests.operator_checks.pgsessions import with_monitor_role
from tests.operator_checks.test_smoke_gate import run_gate
from tests.support.databases import create_database
from tests.support.pg_outage import restart, stop_keeping_data
from tests.support.rq_worker import RQProcess, rq_processes
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def app(start_app, live_database, live_redis):
    return start_app(live_database, live_redis.url)


@pytest.fixture(scope="module")
def scheduler(live_database, live_redis) -> Iterator[RQProcess]:
    """The fleet's one rq cron, on the app's queue Redis."""
    env = {"DATABASE_URL": live_database, "REDIS_URL": live_redis.url}
    with rq_processes() as start:
        yield start([], env | {"RQ_REDIS_URL": live_redis.url}, module="app.jobs.cron")


def registered_now(live_redis) -> list[str]:
    return fleet_registry.read(live_redis.client()).running_schedulers(time.time())


def env_for(app, live_pg, live_database) -> dict[str, str]:
    """What the gate reads on a deployed host, pointed at `app`."""
    return {
        "GOALGPT_BASE_URL": app.url("").rstrip("/"),
        "DATABASE_URL": live_database,
        "GOALGPT_MONITOR_DSN": live_pg.url(user="monitor"),
    }


@pytest.fixture
def gate_env(app, live_pg, live_database, scheduler, live_redis) -> dict[str, str]:
    wait_for(lambda: registered_now(live_redis), 30, "rq cron to register")
    return env_for(app, live_pg, live_database)


def test_gate_passes_against_a_healthy_deployment_within_30s(gate_env):
    done, elapsed = run_gate(**gate_env)

    assert done.returncode == 0, done.stdout
    assert "test_predictions_endpoint_serves_json_then_a_cache_hit" in done.stdout
    assert " failed" not in done.stdout
    assert elapsed < 30


def test_gate_fails_readably_when_redis_is_down(start_app, live_pg, live_database, live_redis):
    # An app of its own: with Redis down nothing is cached (not even in the process), so
    # only a process that never served a request before makes the result the same in any
    # test order (the module's app keeps the healthy test's entry in memory for its TTL).
    app = start_app(live_database, live_redis.url)
    live_redis.stop()
    try:
        done, elapsed = run_gate(**env_for(app, live_pg, live_database))
    finally:
        live_redis.start()

    assert done.returncode == 1, done.stdout
    assert (
        "/readyz says degraded - the app serves without queue_redis (ConnectionError) "
        "and redis (ConnectionError)"
    ) in done.stdout, done.stdout
    assert "cannot read the queue Redis (goalgpt_queue_redis_up is not 1)" in done.stdout
    assert "was not served from the cache (status 200, X-Cache: MISS)" in done.stdout
    # Degraded, not down: the database, metrics and liveness checks still pass; readiness,
    # the three queue checks, the cache check and the rq cron check fail.
    assert "6 failed, 9 passed" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout
    assert elapsed < 30


def test_gate_names_the_missing_rq_cron_and_its_runbook(gate_env, scheduler, live_redis):
    scheduler.stop()  # SIGTERM: it takes its registration with it
    try:
        done, _ = run_gate("-k", "rq_cron", **gate_env)
    finally:
        scheduler.start()
        wait_for(lambda: registered_now(live_redis), 30, "rq cron to register again")

    assert done.returncode == 1, done.stdout
    assert "no rq cron runs in the fleet (none registered; trigger: >60s" in done.stdout
    assert "Start goalgpt-cron on the cron host" in done.stdout
    assert "docs/runbooks/rq-cron-missing.md" in done.stdout
    assert "Traceback" not in done.stdout


def test_gate_names_two_rq_crons(gate_env, live_database, live_redis):
    env = {"DATABASE_URL": live_database, "REDIS_URL": live_redis.url}
    with rq_processes() as start:
        start([], env | {"RQ_REDIS_URL": live_redis.url}, module="app.jobs.cron")
        wait_for(lambda: len(registered_now(live_redis)) == 2, 30, "a second rq cron")
        done, _ = run_gate("-k", "rq_cron", **gate_env)

    assert done.returncode == 1, done.stdout
    assert "2 rq cron run in the fleet (" in done.stdout


def test_gate_names_failing_wal_archiving_and_its_runbook(
    start_postgres, start_app, live_redis, scheduler
):
    """A database whose archive_command fails (a repository unreachable): the gate says so
    by name, with the segment, while the app keeps serving."""
    server = with_monitor_role(
        start_postgres(max_connections=100, archive_mode="on", archive_command="false")
    )
    name = create_database(server)
    apply(server.url(name))
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("SELECT pg_switch_wal()")
        wait_for(
            lambda: conn.execute("SELECT failed_count FROM pg_stat_archiver").fetchone()[0],
            30,
            "archiving to fail",
        )
    app = start_app(server.url(name), live_redis.url)

    done, _ = run_gate(**env_for(app, server, server.url(name)))

    assert done.returncode == 1, done.stdout
    assert "WAL archiving fails: " in done.stdout
    assert "the latest for 0000000100000000000000" in done.stdout
    assert "docs/runbooks/backup-failing.md" in done.stdout
    assert "1 failed, 14 passed" in done.stdout, done.stdout


def test_gate_during_a_postgresql_outage_reports_the_apps_503_and_its_reason(
    start_postgres, start_app, live_redis
):
    # The app's own bound (POOL_TIMEOUT_S, 5 s by default) ends in a 503 saying why; the
    # gate waits longer than that, so the operator reads the app's answer, not a timeout.
    pg = with_monitor_role(start_postgres(max_connections=20))
    database = pg.url(create_database(pg))
    apply(database)
    app = start_app(database, live_redis.url)
    # The healthy test's answer for the same query is in this module's Redis: served from
    # there, the gate would pass without touching the stopped database.
    redis.Redis.from_url(live_redis.url).flushall()
    restart_argv = stop_keeping_data(pg)
    try:
        done, _ = run_gate(
            "-k",
            "predictions_endpoint",
            GOALGPT_BASE_URL=app.url("").rstrip("/"),
            DATABASE_URL=database,
            GOALGPT_MONITOR_DSN=pg.url(user="monitor"),
        )
    finally:
        restart(pg, restart_argv)

    assert done.returncode == 1, done.stdout
    assert "GET /api/predictions/matched answered 503 (database: " in done.stdout, done.stdout
    assert "; retry after 5 s)" in done.stdout
    assert "did not answer" not in done.stdout
