"""`pytest checks/` against the live service: green when healthy, readable when Redis is down."""

from __future__ import annotations

import pytest

from tests.operator_checks.test_smoke_gate import run_gate


@pytest.fixture(scope="module")
def app(start_app, live_database, live_redis):
    return start_app(live_database, live_redis.url)


@pytest.fixture
def gate_env(app, live_pg, live_database) -> dict[str, str]:
    return {
        "GOALGPT_BASE_URL": app.url("").rstrip("/"),
        "DATABASE_URL": live_database,
        "GOALGPT_MONITOR_DSN": live_pg.url(user="monitor"),
    }


def test_gate_passes_against_a_healthy_deployment_within_30s(gate_env):
    done, elapsed = run_gate(**gate_env)

    assert done.returncode == 0, done.stdout
    assert "test_predictions_endpoint_serves_json_then_a_cache_hit" in done.stdout
    assert " failed" not in done.stdout
    assert elapsed < 30


def test_gate_fails_readably_when_redis_is_down(gate_env, live_redis):
    live_redis.stop()
    try:
        done, elapsed = run_gate(**gate_env)
    finally:
        live_redis.start()

    assert done.returncode == 1, done.stdout
    assert (
        "/readyz says degraded - the app serves without queue_redis (ConnectionError) "
        "and redis (ConnectionError)"
    ) in done.stdout, done.stdout
    assert "cannot read the queue Redis (goalgpt_queue_redis_up is not 1)" in done.stdout
    # Degraded, not down: the rest of the gate still passes (predictions served without Redis);
    # the readiness check and the three queue checks fail.
    assert "4 failed, 8 passed" in done.stdout, done.stdout
    assert "Traceback" not in done.stdout
    assert elapsed < 30
