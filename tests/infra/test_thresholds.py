"""After a short warm-up load, the monitoring thresholds of checks/thresholds.yml hold."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from checks import thresholds
from tests.infra import http
from tests.infra.layout import Layout

WARM_UP_REQUESTS = 60
ACTIVE_SQL = "SELECT count(*) FROM pg_stat_activity WHERE state = %s"


@pytest.fixture(scope="module")
def limits() -> thresholds.Monitor:
    return thresholds.load().monitor


@pytest.fixture(scope="module")
def metrics(host, layout: Layout) -> dict[tuple[str, tuple], float]:
    """/metrics after WARM_UP_REQUESTS identical API calls (the first misses, the rest hit)."""
    if "app" not in layout.groups:
        pytest.skip("not in group app")
    url = f"{layout.base_url}/api/predictions/matched?limit=5"
    http.get(host, url, times=WARM_UP_REQUESTS)
    text = http.get(host, f"{layout.base_url}/metrics")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def total(metrics: dict, name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, got), value in metrics.items()
        if sample == name and all((k, v) in got for k, v in labels.items())
    )


def test_no_too_many_clients_errors(metrics, limits):
    assert total(metrics, "goalgpt_db_too_many_clients_total") <= limits.max_clients_errors.target


def test_cache_hit_rate_is_above_target(metrics, limits):
    hit = total(metrics, "goalgpt_cache_requests_total", result="hit")
    stale = total(metrics, "goalgpt_cache_requests_total", result="stale")
    miss = total(metrics, "goalgpt_cache_requests_total", result="miss")
    assert hit + stale + miss >= WARM_UP_REQUESTS
    rate_pct = 100 * (hit + stale) / (hit + stale + miss)
    assert rate_pct > limits.cache_hit_rate.target_above_pct


def test_pool_waiting_is_zero(metrics, limits):
    assert total(metrics, "goalgpt_db_pool_waiting") <= limits.pool_waiting.target


def test_db_active_connections_are_below_target(host, layout, limits):
    if "app" not in layout.groups:
        pytest.skip("not in group app")
    script = (
        "import os, psycopg; "
        'conn = psycopg.connect(os.environ["DATABASE_URL"]); '
        f'print(conn.execute("{ACTIVE_SQL}", ["active"]).fetchone()[0])'
    )
    active = int(host.check_output(f"{layout.env_wrapper} {layout.python} -c '{script}'"))
    assert active < limits.db_active_connections.target_below
