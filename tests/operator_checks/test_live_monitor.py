"""The monitor against the live service: each provoked condition fires its alert and no other.

One gunicorn worker with a pool of 2 connections, over real PostgreSQL and
Redis. Conditions are made the way production makes them: repeated or
distinct requests, queries stuck behind a lock, a database with no free slot.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from app.migrations import apply
from tests.operator_checks.live import (
    alerts,
    app_queries_waiting_for_a_lock,
    get_status,
    monitor_during,
    pool_waiting,
    requests_stuck_behind_a_lock,
)
from tests.support.waiting import wait_for


def fill_every_slot(url: str) -> list[psycopg.Connection]:
    """Connect until refused, twice: a backend still exiting frees its slot a moment later."""
    held: list[psycopg.Connection] = []
    for _ in range(2):
        while True:
            try:
                held.append(psycopg.connect(url))
            except psycopg.OperationalError:
                break
        time.sleep(0.3)
    return held


RUN = ("--interval", "0.5", "--duration", "1.5")  # samples at 0, 0.5, 1, 1.5 s
PREDICTIONS = "/api/predictions/matched"


@pytest.fixture(scope="module")
def app(start_app, live_database, live_redis):
    return start_app(live_database, live_redis.url, DB_MAX_CONNECTIONS="2", POOL_TIMEOUT_S="15")


@pytest.fixture
def monitor_dsn(live_pg):
    return live_pg.url(user="monitor")


def test_clean_traffic_exits_0_with_no_alert(app, monitor_dsn):
    def traffic():
        for _ in range(25):
            assert get_status(app.url(f"{PREDICTIONS}?limit=3")) == 200

    probe = monitor_during(
        traffic, "--metrics-url", app.url("/metrics"), "--dsn", monitor_dsn, *RUN
    )

    assert probe.returncode == 0, probe.stdout
    assert alerts(probe) == []


def test_distinct_requests_miss_the_cache_and_fire_only_the_hit_rate_alert(app, monitor_dsn):
    def traffic():
        for page in range(1, 26):
            assert get_status(app.url(f"{PREDICTIONS}?limit={page + 100}")) == 200

    probe = monitor_during(
        traffic, "--metrics-url", app.url("/metrics"), "--dsn", monitor_dsn, *RUN
    )

    assert probe.returncode == 1
    assert alerts(probe) == ["cache_hit_rate"]


def test_requests_queued_for_the_pool_fire_only_the_waiting_alert(app, live_database):
    # Two requests hold the pool's 2 connections behind a lock; 7 more wait for one.
    urls = [app.url(f"{PREDICTIONS}?limit={n}&user_id=1") for n in range(1, 10)]

    with requests_stuck_behind_a_lock(live_database, urls):
        wait_for(lambda: pool_waiting(app.url("/metrics")) >= 7, 20, "7 requests to queue")
        probe = monitor_during(lambda: None, "--metrics-url", app.url("/metrics"), *RUN)

    assert probe.returncode == 1, probe.stdout
    assert alerts(probe) == ["pool_waiting"], probe.stdout


def test_queries_active_for_the_sustained_span_fire_only_that_alert(
    app, live_database, monitor_dsn, thresholds_file
):
    limits = thresholds_file(
        monitor={"db_active_connections": {"trigger_above": 1, "sustained_s": 1}}
    )
    urls = [app.url(f"{PREDICTIONS}?limit={n}&user_id=2") for n in (1, 2)]

    with requests_stuck_behind_a_lock(live_database, urls):
        wait_for(
            lambda: app_queries_waiting_for_a_lock(live_database) == 2,
            20,
            "2 queries to wait for the lock",
        )
        probe = monitor_during(
            lambda: None,
            "--metrics-url",
            app.url("/metrics"),
            "--dsn",
            monitor_dsn,
            "--thresholds",
            limits,
            *RUN,
        )

    assert probe.returncode == 1, probe.stdout
    assert alerts(probe) == ["db_active_connections"]


def test_a_database_with_no_free_slot_fires_only_the_max_clients_alert(
    start_postgres, start_app, live_redis
):
    full = start_postgres(max_connections=5, superuser_reserved_connections="0")
    with psycopg.connect(full.url()) as conn:
        apply(full.url())
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
    held = fill_every_slot(full.url())
    try:
        app = start_app(full.url(), live_redis.url, DB_MAX_CONNECTIONS="4", POOL_TIMEOUT_S="0.5")

        def requests():
            # Four requests in all: the pool queue can never pass its trigger of 5.
            for n in range(1, 5):
                assert get_status(app.url(f"{PREDICTIONS}?limit={n}&user_id=3")) == 503

        # Longer than RUN: the four requests take 4 x POOL_TIMEOUT_S.
        probe = monitor_during(
            requests, "--metrics-url", app.url("/metrics"), "--interval", "0.5", "--duration", "3"
        )
    finally:
        for conn in held:
            conn.close()

    assert probe.returncode == 1, probe.stdout
    assert alerts(probe) == ["max_clients_errors"], probe.stdout
