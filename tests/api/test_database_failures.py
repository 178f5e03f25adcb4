"""When PostgreSQL cannot answer: 503 with Retry-After within the bounds, counted, nothing cached.

These tests start their own PostgreSQL servers (a tiny max_connections, or one
that is stopped mid-test) so the shared test server is never starved.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import redis

from app.migrations import apply
from tests.support.predictions import seed, settings_for
from tests.support.prometheus import sample_value

pytestmark = pytest.mark.slow

URL = "/api/predictions/matched"
POOL_TIMEOUT_S = 1.0
SINGLEFLIGHT_TIMEOUT_S = 3.0
MARGIN_S = 2.0


def seeded_server(start_postgres, max_connections: int):
    server = start_postgres(max_connections=max_connections, superuser_reserved_connections="0")
    apply(server.url())
    seed(server.url())
    return server


def app_on(make_app, database_url: str, redis_url: str, **overrides):
    return make_app(
        settings_for(
            database_url,
            redis_url,
            POOL_TIMEOUT_S=POOL_TIMEOUT_S,
            SINGLEFLIGHT_TIMEOUT_S=SINGLEFLIGHT_TIMEOUT_S,
            **overrides,
        )
    )


def timed_get(app, path: str):
    client = app.test_client()
    started = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - started


def counters(app) -> dict[str, float]:
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        # Refused while connecting: sqlstate None, the request only sees a PoolTimeout.
        "too_many_clients": sample_value(
            text, "goalgpt_db_too_many_clients_total", source="connect"
        ),
        "pool_timeout": sample_value(text, "goalgpt_db_errors_total", kind="pool_timeout"),
    }


def test_exhausted_pool_answers_503_within_the_timeout_and_counts_too_many_clients(
    start_postgres, make_app, redis_url
):
    server = seeded_server(start_postgres, max_connections=5)
    held = [psycopg.connect(server.url()) for _ in range(4)]  # 4 of the 5 slots
    held[0].execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")  # queries become slow
    try:
        app = app_on(make_app, server.url(), redis_url, DB_MAX_CONNECTIONS=5)
        before = counters(app)
        barrier = threading.Barrier(6)

        def one(limit: int):
            barrier.wait()
            return timed_get(app, f"{URL}?limit={limit}")

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(one, range(1, 7)))
        after = counters(app)
    finally:
        for conn in held:
            conn.close()

    for response, elapsed in results:
        assert response.status_code == 503
        assert int(response.headers["Retry-After"]) >= 1
        assert elapsed < SINGLEFLIGHT_TIMEOUT_S + MARGIN_S  # liveness: never a hang
    reasons = {response.get_json()["reason"] for response, _ in results}
    # The one connection the pool got runs into the lock; the rest wait for the pool.
    assert reasons == {"database: pool_timeout", "database: timeout"}
    assert after["too_many_clients"] > before["too_many_clients"]
    assert after["pool_timeout"] > before["pool_timeout"]
    assert "53300 FATAL:  sorry, too many clients already" in server.log_text()
    assert redis.Redis.from_url(redis_url).keys("goalgpt:v1:*") == []


def test_postgres_down_answers_503_quickly_and_cached_answers_still_serve(
    start_postgres, make_app, redis_url
):
    server = seeded_server(start_postgres, max_connections=20)
    app = app_on(make_app, server.url(), redis_url)
    assert timed_get(app, f"{URL}?limit=2")[0].status_code == 200
    server.stop()

    response, elapsed = timed_get(app, f"{URL}?limit=3")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert elapsed < POOL_TIMEOUT_S + MARGIN_S
    ready, elapsed = timed_get(app, "/readyz")
    assert ready.status_code == 503 and ready.get_json()["checks"]["postgres"] != "ok"
    assert elapsed < POOL_TIMEOUT_S + MARGIN_S
    # What was cached before the outage is still served.
    assert timed_get(app, f"{URL}?limit=2")[0].headers["X-Cache"] == "HIT"
