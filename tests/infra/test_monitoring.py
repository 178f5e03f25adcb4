"""The monitoring host: Prometheus up, every target up, the rules rendered from
checks/thresholds.yml (the seed's four and the queues') loaded and healthy,
Alertmanager reachable. Runs on the hosts of group `monitoring`."""

from __future__ import annotations

import time

import pytest

from checks import alert_rules, thresholds
from tests.infra import http
from tests.infra.layout import Layout


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


def test_every_target_is_up(host, monitoring):
    # A target is scraped within one interval of (re)loading; wait a little for all.
    deadline = time.monotonic() + 60
    while True:
        targets = http.get_json(host, f"{monitoring.prometheus_url}/api/v1/targets")["data"]
        active = targets["activeTargets"]
        down = [
            (t["labels"]["job"], t["scrapeUrl"], t["lastError"])
            for t in active
            if t["health"] != "up"
        ]
        if not down or time.monotonic() > deadline:
            break
        time.sleep(2)
    jobs = {t["labels"]["job"] for t in active}
    assert {"prometheus", "alertmanager", "goalgpt", "postgres", "redis"} <= jobs
    assert down == []


def test_the_rendered_rules_are_loaded_and_healthy(host, monitoring):
    groups = http.get_json(host, f"{monitoring.prometheus_url}/api/v1/rules")["data"]["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    assert set(rules) == alert_rules.alert_names(thresholds.load())
    assert {r["health"] for r in rules.values()} == {"ok"}


def test_prometheus_sends_to_a_ready_alertmanager(host, monitoring):
    assert http.get_json(host, f"{monitoring.alertmanager_url}/api/v2/status")["cluster"]
    managers = http.get_json(host, f"{monitoring.prometheus_url}/api/v1/alertmanagers")["data"]
    urls = [a["url"] for a in managers["activeAlertmanagers"]]
    assert urls and all(monitoring.alertmanager_url in u for u in urls)
