"""`pytest checks/` against the live service: green when healthy, readable when Redis is down."""

from __future__ import annotations

import pytest
import redis

from app.migrations import apply
from tests.operator_checks.pgsessions import with_monitor_role
from tests.operator_checks.test_smoke_gate import run_gate
from tests.support.databases import create_database
from tests.support.pg_outage import restart, stop_keeping_data


@pytest.fixture(scope="module")
def app(start_app, live_database, live_redis):
    return start_app(live_database, live_redis.url)


def env_for(app, live_pg, live_database) -> dict[str, str]:
    """What the gate reads on a deployed host, pointed at `app`."""
    return {
        "GOALGPT_BASE_URL": app.url("").rstrip("/"),
        "DATABASE_URL": live_database,
        "GOALGPT_MONITOR_DSN": live_pg.url(user="monitor"),
    }


@pytest.fixture
def gate_env(app, live_pg, live_database) -> dict[str, str]:
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
    # the three queue checks and the cache check fail.
    assert "5 failed, 8 passed" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout
    assert elapsed < 30


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
