"""The smoke gate (`pytest checks/`) on both sides of each of the seed's four numbers.

The gate runs as an operator runs it, against a /metrics that says exactly the numbers
(real prometheus_client text, tests/support/metrics_server.py) and a PostgreSQL
with exactly that many active sessions: 3 / 4 too-many-clients errors in the last hour
(the web's and the jobs' summed), a 50 / 49.9 % cache hit rate (stale counts as a hit),
5 / 6 requests waiting for a connection, 45 / 46 active connections.
"""

from __future__ import annotations

import re

import pytest

from tests.operator_checks.test_smoke_gate import run_gate
from tests.support.metrics_server import AppMetrics

pytestmark = pytest.mark.slow

THRESHOLD_CHECKS = "test_metrics and within_threshold"  # the gate's four seed checks
ACTIVE = "test_database_active_connections_are_within_thresholds"
WAITING = "test_pool_waiting_is_within_threshold"
REFUSALS = "test_too_many_clients_errors_of_the_last_hour_are_within_threshold"
HIT_RATE = "test_cache_hit_rate_is_within_thresholds"


def says(*, web_refusals: int, job_refusals: int, hits: int, stale: int, misses: int, waiting: int):
    def step(m: AppMetrics) -> None:
        m.refusals_last_hour.set(web_refusals)
        m.job_refusals_last_hour.set(job_refusals)
        m.requests(hit=hits, stale=stale, miss=misses)
        m.pool_waiting.set(waiting)

    return step


def gate_against(metrics_server, monitor_url: str, step) -> str:
    server = metrics_server(step)  # set before the first scrape, the same for every later one
    done, _ = run_gate(
        "-k",
        THRESHOLD_CHECKS,
        GOALGPT_BASE_URL=server.url.removesuffix("/metrics"),
        DATABASE_URL=monitor_url,
        GOALGPT_MONITOR_DSN=monitor_url,
    )
    return done.stdout


def test_at_each_seed_number_the_gate_passes(metrics_server, sessions, monitor_url):
    sessions.running(45)
    at_limits = says(web_refusals=2, job_refusals=1, hits=400, stale=100, misses=500, waiting=5)

    out = gate_against(metrics_server, monitor_url, at_limits)

    passed = re.findall(r"::(\w+)(?:\[[^]]*\])? PASSED", out)
    assert sorted(passed) == sorted([ACTIVE, WAITING, REFUSALS, HIT_RATE]), out


def test_one_past_each_seed_number_the_gate_fails_saying_which_and_what_to_do(
    metrics_server, sessions, monitor_url
):
    sessions.running(46)
    past = says(web_refusals=2, job_refusals=2, hits=399, stale=100, misses=501, waiting=6)

    out = gate_against(metrics_server, monitor_url, past)

    assert "4 failed" in out, out
    assert "46 active database connections (trigger: >45). Optimize queries" in out
    assert "6 requests wait for a database connection on http://127.0.0.1:" in out
    assert "(trigger: >5). Check for connection leaks" in out
    assert "4 'too many clients' errors on http://127.0.0.1:" in out
    assert "(trigger: >3 in 1h). Investigate query optimization or increase pool" in out
    assert "is 49.9% of 1000 requests (trigger: <50%). Increase PREDICTIONS_CACHE_TTL_S" in out
    assert "Traceback" not in out
