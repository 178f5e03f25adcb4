"""Every refusal for lack of a connection slot is counted, as production meets it.

A NON-superuser role (as the deployed `goalgpt` is) against PostgreSQL with
max_connections=20 and the DEFAULT 3 superuser-reserved slots: it is refused
with "remaining connection slots are reserved ..." (no SQLSTATE at connect
time) before "too many clients" could ever happen. The server logs the SQLSTATE
of every line (tests/support/servers.py), so its own count of refusals is the
number of `53300 FATAL` lines; the app's counters must equal it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import redis

from app.infra import job_stats as stats
from app.migrations import apply
from tests.support.gunicorn import GunicornServer, serving
from tests.support.predictions import seed
from tests.support.processes import run_module
from tests.support.prometheus import sample_value
from tests.support.servers import PostgresServer

pytestmark = pytest.mark.slow

MAX_CONNECTIONS = 20
RESERVED = 3  # PostgreSQL's default superuser_reserved_connections
REQUESTS = 1000
POOL_TIMEOUT_S = 2
REQUEST_TIMEOUT_S = 60
ROLE = "webapp"


def refusals_in_server_log(server: PostgresServer) -> int:
    return sum(1 for line in server.log_text().splitlines() if line.startswith("53300 FATAL"))


def settle(read_both, timeout_s: float = 45.0) -> tuple[float, int]:
    """(app count, server count) once both stopped moving; the server logs a refusal first."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        now = read_both()
        if now == last and now[0] == now[1]:
            return now
        last = now
        time.sleep(1.5)
    return last


@pytest.fixture(scope="module")
def small_pg(start_postgres) -> PostgresServer:
    """max_connections 20, default reserved slots; a migrated, seeded database the
    non-superuser ROLE may read and update (as roles/postgresql grants `goalgpt`)."""
    server = start_postgres(max_connections=MAX_CONNECTIONS)
    with psycopg.connect(server.url(), autocommit=True) as conn:
        assert conn.execute("SHOW superuser_reserved_connections").fetchone()[0] == str(RESERVED)
        conn.execute(f"CREATE ROLE {ROLE} LOGIN")
    apply(server.url())
    seed(server.url())
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO {ROLE}")
    return server


@pytest.fixture
def web(small_pg, redis_url) -> Iterator[GunicornServer]:
    with serving(
        small_pg.url(user=ROLE),
        redis_url,
        4,
        32,
        DB_MAX_CONNECTIONS=50,
        POOL_TIMEOUT_S=POOL_TIMEOUT_S,
    ) as server:
        yield server


def app_refusals(server: GunicornServer) -> float:
    text = server.get("/metrics").body.decode()
    return sample_value(text, "goalgpt_db_too_many_clients_total", source="connect") + sample_value(
        text, "goalgpt_db_too_many_clients_total", source="query"
    )


def test_1000_concurrent_requests_as_a_non_superuser_count_every_refusal_the_server_logs(
    small_pg, web
):
    logged_before = refusals_in_server_log(small_pg)
    counted_before = app_refusals(web)
    barrier = threading.Barrier(REQUESTS, timeout=120)

    def one(user_id: int):
        barrier.wait()
        return web.get(
            f"/api/predictions/matched?user_id={user_id}&limit=5", timeout=REQUEST_TIMEOUT_S
        )

    with ThreadPoolExecutor(REQUESTS) as pool:
        answers = list(pool.map(one, range(1, REQUESTS + 1)))  # a hang would raise a timeout

    assert len(answers) == REQUESTS
    assert {a.status for a in answers} <= {200, 503}, {a.status for a in answers}
    unavailable = [a for a in answers if a.status == 503]
    assert all(a.headers.get("retry-after", "").isdigit() for a in unavailable)
    counted, logged = settle(
        lambda: (
            app_refusals(web) - counted_before,
            refusals_in_server_log(small_pg) - logged_before,
        )
    )
    assert logged > 0, "the load never ran out of slots: the test proves nothing"
    assert "remaining connection slots are reserved" in small_pg.log_text()
    assert counted == logged


def test_a_job_process_counts_every_refusal_the_server_logs(small_pg, redis_url):
    usable = MAX_CONNECTIONS - RESERVED
    holders = []
    client = redis.Redis.from_url(redis_url)
    try:
        # Take every slot a non-superuser may use (the fixtures' own sessions are closed).
        while len(holders) < usable:
            holders.append(psycopg.connect(small_pg.url(user=ROLE), autocommit=True))
        logged_before = refusals_in_server_log(small_pg)
        env = {
            **os.environ,
            "DATABASE_URL": small_pg.url(user=ROLE),
            "REDIS_URL": redis_url,
            # The jobs count their refusals with the queues (RQ_REDIS_URL).
            "RQ_REDIS_URL": redis_url,
            "POOL_TIMEOUT_S": str(POOL_TIMEOUT_S),
            "JOB_RETRY_MAX": "0",
        }
        done = run_module(
            "app.jobs",
            "run",
            "match_minute",
            env=env,
            timeout=60,  # the job gives up after POOL_TIMEOUT_S: it never hangs
        )
        logged = refusals_in_server_log(small_pg) - logged_before
    finally:
        for conn in holders:
            conn.close()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "error: run failed" in done.stderr
    counted = sum(stats.read_refusals(client).values())
    assert logged > 0
    assert counted == logged
