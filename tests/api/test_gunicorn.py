"""The service under a real gunicorn: 4 worker processes, one Redis, one PostgreSQL."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import redis

from tests.support.gunicorn import GunicornServer, serving
from tests.support.predictions import key_of, subscribers, while_predictions_locked
from tests.support.prometheus import sample_value, values_by
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow

WORKERS = 4
POOL_MAX = 10


@pytest.fixture(scope="module")
def server(api_database_url, redis_server) -> Iterator[GunicornServer]:
    with serving(
        api_database_url, redis_server.url, WORKERS, 32, DB_MAX_CONNECTIONS=POOL_MAX
    ) as gunicorn:
        yield gunicorn


@pytest.fixture
def fresh_redis(redis_server) -> None:
    redis.Redis.from_url(redis_server.url).flushall()


def get_many(server: GunicornServer, path: str, n: int):
    barrier = threading.Barrier(n)

    def one(_):
        barrier.wait()
        return server.get(path)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def scrape(server: GunicornServer) -> str:
    return server.get("/metrics").body.decode()


def test_each_worker_has_its_own_pool_named_goalgpt_web(server, api_database_url):
    def web_connections() -> int:
        with psycopg.connect(api_database_url) as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'goalgpt-web'"
            return conn.execute(query).fetchone()[0]

    # Pools open in the background and the gauges are sampled every second: let them settle.
    def settled() -> int:
        seen = web_connections()
        return seen if seen == sample_value(scrape(server), "goalgpt_db_pool_size") else 0

    seen = wait_for(settled, 5, "the pool gauges to match pg_stat_activity", every=0.2)
    assert seen >= WORKERS  # each worker's pool keeps connections open


def test_probes_answer(server):
    assert server.get("/healthz").status == 200
    ready = server.get("/readyz")
    assert ready.status == 200
    assert ready.json()["checks"] == {"postgres": "ok", "redis": "ok", "queue_redis": "ok"}


def test_100_concurrent_requests_over_4_workers_query_postgres_once(
    server, fresh_redis, redis_server, api_database_url, count_queries
):
    query = "limit=30&status=won"
    cache = redis.Redis.from_url(redis_server.url)
    before = scrape(server)
    responses = while_predictions_locked(
        api_database_url,
        lambda: get_many(server, f"/api/predictions/matched?{query}", 100),
        lambda: subscribers(cache, key_of(query)) >= 1,
        "another process to wait on the holder",
    )
    after = scrape(server)

    assert {r.status for r in responses} == {200}
    # A thread the busy machine starts after the store gets a HIT: still no query.
    assert {r.headers["x-cache"] for r in responses} <= {"MISS", "HIT"}
    assert len({r.body for r in responses}) == 1
    assert count_queries() == 1

    def delta(**labels):
        return sample_value(after, "goalgpt_singleflight_total", **labels) - sample_value(
            before, "goalgpt_singleflight_total", **labels
        )

    # Several processes took part; only one of them ran the query.
    assert delta(level="process", outcome="executed") >= 2
    assert delta(level="fleet", outcome="executed") == 1
    assert delta(level="fleet", outcome="deduplicated") >= 1


def test_metrics_count_every_worker(server):
    before = sample_value(scrape(server), "goalgpt_http_requests_total", route="/healthz")
    for _ in range(40):
        assert server.get("/healthz").status == 200
    text = scrape(server)
    assert sample_value(text, "goalgpt_http_requests_total", route="/healthz") == before + 40
    assert sample_value(text, "goalgpt_db_pool_max") == WORKERS * POOL_MAX


def test_each_worker_reports_its_own_pool_max_not_the_hosts_sum(server):
    pools = values_by(scrape(server), "goalgpt_db_pool_max", "pid")

    assert pools == {str(pid): POOL_MAX for pid in server.worker_pids()}


def test_a_dead_workers_pool_gauges_leave_the_sum(server):
    victim = min(server.worker_pids())
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: victim not in (pids := server.worker_pids()) and len(pids) >= WORKERS,
        20,
        "gunicorn to replace the killed worker",
    )
    text = scrape(server)
    assert sample_value(text, "goalgpt_db_pool_max") == WORKERS * POOL_MAX
    assert str(victim) not in values_by(text, "goalgpt_db_pool_max", "pid")
