"""The monitoring host: Prometheus up, every target up, the rules rendered from
checks/thresholds.yml (the seed's four and the queues') loaded and healthy,
Alertmanager reachable. Runs on the hosts of group `monitoring`."""

from __future__ import annotations

import time

import pytest

from checks import alert_rules, thresholds
from tests.deployed import http
from tests.deployed.layout import Layout


@pytest.fixture(scope="module")
def monitoring(layout: Layout) -> Layout:
    if "monitoring" not in layout.groups:
        pytest.skip("not in group monitoring")
    return layout


def test_prometheus_is_ready(host, monitoring):
    assert host.socket(
        f"tcp://{monitoring.service_address}:{monitoring.prometheus_port}"
    ).is_listening
    status = http.get_json(host, f"{monitoring.prometheus_url}/api/v1/status/buildinfo")
    assert status["status"] == "success"


def eventually(read, ready, timeout: float = 60):
    """read() until ready(value) or the timeout: a just-(re)loaded Prometheus discovers
    its targets and Alertmanager, and scrapes and evaluates, within a few intervals."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if ready(value) or time.monotonic() > deadline:
            return value
        time.sleep(2)


def test_every_target_is_up(host, monitoring):
    url = f"{monitoring.prometheus_url}/api/v1/targets"
    active = eventually(
        lambda: http.get_json(host, url)["data"]["activeTargets"],
        lambda found: found and all(t["health"] == "up" for t in found),
    )
    jobs = {t["labels"]["job"] for t in active}
    assert {"prometheus", "alertmanager", "goalgpt", "postgres", "redis"} <= jobs
    down = [(t["scrapeUrl"], t["lastError"]) for t in active if t["health"] != "up"]
    assert down == []


def test_the_rendered_rules_are_loaded_and_healthy(host, monitoring):
    url = f"{monitoring.prometheus_url}/api/v1/rules"
    groups = eventually(
        lambda: http.get_json(host, url)["data"]["groups"],
        lambda found: found and all(r["health"] == "ok" for g in found for r in g["rules"]),
    )
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == alert_rules.alert_names(thresholds.load())
    assert {r["health"] for r in rules.values()} == {"ok"}


def test_prometheus_sends_to_a_ready_alertmanager(host, monitoring):
    assert http.get_json(host, f"{monitoring.alertmanager_url}/api/v2/status")["cluster"]
    url = f"{monitoring.prometheus_url}/api/v1/alertmanagers"
    managers = eventually(
        lambda: http.get_json(host, url)["data"]["activeAlertmanagers"], lambda found: found
    )
    urls = [a["url"] for a in managers]
    assert urls and all(monitoring.alertmanager_url in u for u in urls)
