"""GET /api/predictions/matched in one process: real PostgreSQL and Redis behind the app."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import redis

from app.config import Settings
from app.infra import job_stats as stats
from tests.support.clock import ManualClock
from tests.support.predictions import (
    app_waiters,
    one_waiting_query,
    settings_for,
    while_predictions_locked,
)
from tests.support.prometheus import sample_value
from tests.support.waiting import wait_for

URL = "/api/predictions/matched"
TTL_S = 1  # of the apps built to see entries go stale


def get_many(app, path: str, n: int):
    """n requests released together from n threads (one process)."""
    barrier = threading.Barrier(n)

    def one(_):
        client = app.test_client()
        barrier.wait()
        return client.get(path)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def metrics_text(app) -> str:
    return app.test_client().get("/metrics").get_data(as_text=True)


def short_ttl(database_url: str, redis_url: str, stale_s: float) -> Settings:
    """Entries fresh for TTL_S, then served stale for `stale_s` (0: stale serving off)."""
    return settings_for(
        database_url, redis_url, PREDICTIONS_CACHE_TTL_S=TTL_S, PREDICTIONS_CACHE_STALE_S=stale_s
    )


def stale_after_a_load(make_app, settings: Settings, query: str):
    """An app on `settings` once the entry for `query` was loaded and its TTL has passed
    (on the app's clock: the entry it refreshes stays fresh however slow the machine)."""
    clock = ManualClock(running_monotonic=True)
    app = make_app(settings, clock=clock)
    assert app.test_client().get(f"{URL}?{query}").headers["X-Cache"] == "MISS"
    clock.advance(TTL_S)
    return app


def test_returns_predictions_joined_with_their_match_newest_first(api_app, api_database_url):
    response = api_app.test_client().get(f"{URL}?limit=5")
    assert response.status_code == 200
    body = response.get_json()
    with psycopg.connect(api_database_url) as conn:
        expected = conn.execute(
            "SELECT p.id, m.home_team FROM predictions p JOIN ts_matches m ON m.id = p.match_id "
            "ORDER BY p.created_at DESC, p.id DESC LIMIT 5"
        ).fetchall()
    assert [(p["id"], p["match"]["home_team"]) for p in body["predictions"]] == expected
    assert body["count"] == 5 and body["next_cursor"]


def test_filters_by_user_status_and_match_day(api_app, api_database_url):
    with psycopg.connect(api_database_url) as conn:
        user_id, day = conn.execute(
            "SELECT p.user_id, (m.kickoff_at AT TIME ZONE 'UTC')::date FROM predictions p "
            "JOIN ts_matches m ON m.id = p.match_id WHERE p.status = 'won' LIMIT 1"
        ).fetchone()
        expected = conn.execute(
            "SELECT p.id FROM predictions p JOIN ts_matches m ON m.id = p.match_id "
            "WHERE p.user_id = %s AND p.status = 'won' "
            "AND (m.kickoff_at AT TIME ZONE 'UTC')::date = %s "
            "ORDER BY p.created_at DESC, p.id DESC",
            [user_id, day],
        ).fetchall()
    response = api_app.test_client().get(f"{URL}?user_id={user_id}&status=won&date={day}")
    assert [p["id"] for p in response.get_json()["predictions"]] == [row[0] for row in expected]
    assert expected


def test_cursor_pages_through_every_row_once(api_app, api_database_url):
    client, seen, path = api_app.test_client(), [], f"{URL}?status=void&limit=7"
    while True:
        body = client.get(path).get_json()
        seen += [p["id"] for p in body["predictions"]]
        if not body["next_cursor"]:
            break
        path = f"{URL}?status=void&limit=7&cursor={body['next_cursor']}"
    with psycopg.connect(api_database_url) as conn:
        total = conn.execute("SELECT count(*) FROM predictions WHERE status = 'void'").fetchone()
    assert len(seen) == len(set(seen)) == total[0] > 7


def test_second_request_is_a_hit_served_without_the_database(api_app, count_queries):
    client = api_app.test_client()
    first, second = client.get(f"{URL}?limit=3"), client.get(f"{URL}?limit=3")
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert first.data == second.data
    assert count_queries() == 1


def test_spellings_of_one_request_share_one_cache_entry(api_app, count_queries):
    client = api_app.test_client()
    assert client.get(f"{URL}?status=won&limit=50").headers["X-Cache"] == "MISS"
    for spelling in ("?STATUS=Won", "?limit=050&status=WON", "?status=%20won"):
        assert client.get(URL + spelling).headers["X-Cache"] == "HIT", spelling
    assert count_queries() == 1


def test_an_empty_result_is_a_success_and_is_cached(api_app, count_queries):
    client = api_app.test_client()
    first = client.get(f"{URL}?user_id=999999999")
    assert first.status_code == 200 and first.get_json()["predictions"] == []
    assert client.get(f"{URL}?user_id=999999999").headers["X-Cache"] == "HIT"
    assert count_queries() == 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=100000000000000000000000000000", "limit"),
        ("limit=", "limit"),
        ("user_id=-5", "user_id"),
        ("user_id=1%27%20OR%20%271%27%3D%271", "user_id"),
        ("user_id=" + "9" * 5000, "user_id"),
        ("date=2026-13-01", "date"),
        ("date=yesterday", "date"),
        ("status=won%3B%20DROP%20TABLE%20predictions", "status"),
        ("status=", "status"),
        ("cursor=not-a-cursor", "cursor"),
        ("page=2", "page"),
        ("limit=5&limit=6", "limit"),
    ],
)
def test_bad_input_gets_400_naming_the_parameter(api_app, count_queries, query, parameter):
    response = api_app.test_client().get(f"{URL}?{query}")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_parameter"
    assert body["parameter"] == parameter and body["allowed"]
    assert count_queries() == 0


def test_20_concurrent_requests_for_a_cold_key_in_one_process_query_once(
    api_app, api_database_url, count_queries
):
    before = metrics_text(api_app)
    responses = while_predictions_locked(
        api_database_url,
        lambda: get_many(api_app, f"{URL}?limit=20&status=lost", 20),
        lambda: app_waiters(api_app, "limit=20&status=lost") == 19,
        "19 requests to wait on the one loading",
    )
    assert {r.status_code for r in responses} == {200}
    assert {r.headers["X-Cache"] for r in responses} == {"MISS"}
    assert len({r.data for r in responses}) == 1
    assert count_queries() == 1
    after = metrics_text(api_app)
    name, labels = "goalgpt_singleflight_total", {"level": "process", "outcome": "deduplicated"}
    assert sample_value(after, name, **labels) - sample_value(before, name, **labels) == 19


def test_a_database_error_is_returned_not_cached_and_the_next_call_succeeds(
    api_app, api_database_url, count_queries
):
    client = api_app.test_client()
    with psycopg.connect(api_database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE predictions RENAME TO predictions_away")
        try:
            failed = client.get(f"{URL}?limit=4")
        finally:
            conn.execute("ALTER TABLE predictions_away RENAME TO predictions")
    assert failed.status_code == 500
    assert failed.get_json() == {"error": "internal_error"}
    retried = client.get(f"{URL}?limit=4")
    assert retried.status_code == 200 and retried.headers["X-Cache"] == "MISS"
    assert count_queries() == 1  # the failed statement never completed


def test_a_query_slower_than_the_singleflight_timeout_gets_503_and_is_not_cached(
    make_app, api_database_url, redis_url, count_queries
):
    app = make_app(settings_for(api_database_url, redis_url, SINGLEFLIGHT_TIMEOUT_S=1))
    client = app.test_client()
    timeouts_before = sample_value(metrics_text(app), "goalgpt_db_errors_total", kind="timeout")
    with psycopg.connect(api_database_url) as blocker:
        blocker.execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        slow = client.get(f"{URL}?limit=6")
        elapsed = time.monotonic() - started
        blocker.rollback()
    assert slow.status_code == 503 and slow.headers["Retry-After"]
    assert slow.get_json()["reason"] == "database: timeout"
    assert elapsed < 3  # liveness: the holder gave up at its bound, no hang
    assert redis.Redis.from_url(redis_url).keys("goalgpt:v1:*") == []
    assert client.get(f"{URL}?limit=6").headers["X-Cache"] == "MISS"
    timeouts = sample_value(metrics_text(app), "goalgpt_db_errors_total", kind="timeout")
    assert timeouts == timeouts_before + 1


def test_stale_entry_is_served_at_once_while_exactly_one_refresh_runs(
    make_app, api_database_url, redis_url, count_queries
):
    app = stale_after_a_load(make_app, short_ttl(api_database_url, redis_url, 30), "limit=8")
    with psycopg.connect(api_database_url) as blocker:
        blocker.execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")
        # The refresh waits on the lock until every answer is back: none waited for it.
        responses = get_many(app, f"{URL}?limit=8", 20)
        one_waiting_query(api_database_url)
        blocker.rollback()
    assert {r.headers["X-Cache"] for r in responses} == {"STALE"}
    client = app.test_client()
    wait_for(
        lambda: client.get(f"{URL}?limit=8").headers["X-Cache"] == "HIT",
        5,
        "the refresh to store a fresh entry",
        every=0.05,
    )
    assert count_queries() == 2  # the first load and exactly one refresh


def test_stale_window_of_zero_turns_stale_serving_off(
    make_app, api_database_url, redis_url, count_queries
):
    app = stale_after_a_load(make_app, short_ttl(api_database_url, redis_url, 0), "limit=9")
    assert app.test_client().get(f"{URL}?limit=9").headers["X-Cache"] == "MISS"
    assert count_queries() == 2


def test_redis_down_serves_from_postgres_ready_but_degraded_then_the_cache_is_used_again(
    api_app, api_database_url, redis_server, count_queries
):
    path = f"{URL}?limit=11"
    failed_gets = sample_value(metrics_text(api_app), "goalgpt_redis_errors_total", operation="get")
    redis_server.stop()
    try:
        responses = while_predictions_locked(
            api_database_url,
            lambda: get_many(api_app, path, 20),
            lambda: app_waiters(api_app, "limit=11") == 19,
            "19 requests to wait on the one loading",
        )
        assert {r.status_code for r in responses} == {200}
        assert {r.headers["X-Cache"] for r in responses} == {"MISS"}
        assert count_queries() == 1  # in-process single-flight still holds
        text = metrics_text(api_app)
        # Each request found Redis down once, on its read.
        assert sample_value(text, "goalgpt_redis_errors_total", operation="get") == failed_gets + 20
        # Ready (a load balancer keeps the host), with the missing Redis named.
        ready = api_app.test_client().get("/readyz")
        assert ready.status_code == 200
        assert ready.get_json()["status"] == "degraded"
        assert ready.get_json()["checks"]["redis"] == "ConnectionError"
        assert "redis" in ready.get_json()["degraded"]
        assert sample_value(text, "goalgpt_dependency_up", dependency="redis") == 0
        assert sample_value(text, "goalgpt_degraded") == 1
    finally:
        redis_server.start()
    client = api_app.test_client()
    assert client.get(path).headers["X-Cache"] == "MISS"
    assert client.get(path).headers["X-Cache"] == "HIT"
    assert count_queries() == 2
    assert client.get("/readyz").get_json()["status"] == "ready"
    assert sample_value(metrics_text(api_app), "goalgpt_degraded") == 0


def test_requests_are_counted_by_route_and_status(api_app):
    client = api_app.test_client()
    text = metrics_text(api_app)
    before = sample_value(text, "goalgpt_http_requests_total", status="400")
    timed = sample_value(text, "goalgpt_http_request_duration_seconds_count", route="/healthz")
    client.get(f"{URL}?limit=0")
    client.get("/healthz")
    text = metrics_text(api_app)
    assert sample_value(text, "goalgpt_http_requests_total", status="400") == before + 1
    assert (
        sample_value(text, "goalgpt_http_request_duration_seconds_count", route="/healthz")
        == timed + 1
    )
    assert sample_value(text, "goalgpt_db_pool_max") == 50  # DB_MAX_CONNECTIONS' default


def test_metrics_include_the_fleets_job_statistics_from_redis(api_app, redis_url):
    client = redis.Redis.from_url(redis_url)
    stats.record_run(client, "match_minute", "succeeded", duration_s=0.2, matches={"updated": 7})

    text = metrics_text(api_app)

    assert sample_value(text, "goalgpt_job_stats_up") == 1
    assert (
        sample_value(text, "goalgpt_job_runs_total", job="match_minute", outcome="succeeded") == 1
    )
    assert (
        sample_value(text, "goalgpt_job_matches_total", job="match_minute", result="updated") == 7
    )
