"""Monitoring on the fleet lab: Prometheus on mon-1 scrapes app-1, app-2, the postgres
exporter on db-1 and the redis exporters on redis-1; pool waiting above 5, provoked on
the app hosts, fires and reaches the alert log on mon-1.

Needs the whole fleet deploy (`make deploy INVENTORY=build/lab/inventory.yml`); the
deploy runs once per session here and is idempotent, so it reuses a deployed lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.support.deployment import REPO
from tests.support.traffic import concurrent_requests

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    # Remove once the fleet deploy (branch fleet) runs on the lab: until then the
    # deploy below fails and so does every test here.
    pytest.mark.xfail(reason="needs the fleet deploy on the lab (branch fleet)", strict=False),
]

PROMETHEUS_PORT, ALERT_LOG = 9090, "/var/log/goalgpt/alerts.jsonl"


@pytest.fixture(scope="module")
def fleet(lab):
    env = os.environ | {"ANSIBLE_NOCOLOR": "1"}
    done = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "playbooks/deploy.yml",
            "-i",
            str(lab.inventory_path),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return lab


def prometheus(lab, path: str, **params: str) -> dict:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    url = f"http://{lab.address('mon-1')}:{PROMETHEUS_PORT}{path}{query}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["data"]


def wait_for(check, what: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, what
        time.sleep(2)
    return result


def test_prometheus_on_mon_1_scrapes_every_host(fleet):
    def all_up() -> list[dict] | None:
        active = prometheus(fleet, "/api/v1/targets")["activeTargets"]
        return active if active and all(t["health"] == "up" for t in active) else None

    active = wait_for(all_up, "a target stayed down")

    by_job = {}
    for target in active:
        by_job.setdefault(target["labels"]["job"], set()).add(target["labels"].get("host"))
    assert by_job["goalgpt"] == {"app-1", "app-2"}
    assert by_job["postgres"] == {"db-1"}
    assert by_job["redis"] == {"redis-1"}
    assert len([t for t in active if t["labels"]["job"] == "redis"]) == 2  # cache and queue
    rules = prometheus(fleet, "/api/v1/rules")["groups"][0]["rules"]
    assert {r["name"] for r in rules if r["health"] == "ok"} == {
        "GoalGPTMaxClientsErrors",
        "GoalGPTCacheHitRateLow",
        "GoalGPTDbActiveConnectionsHigh",
        "GoalGPTPoolWaiting",
    }


STARVE = """
import os, sys, time, psycopg
url = next(l.split("=", 1)[1].strip().strip('"') for l in open("/etc/goalgpt/goalgpt.env")
           if l.startswith("DATABASE_URL="))
admin = psycopg.connect(url, autocommit=True)
held = []
for _ in range(5):
    ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                          " WHERE application_name = 'goalgpt-web'").fetchone()[0]
    while True:
        try:
            held.append(psycopg.connect(url, autocommit=True, connect_timeout=5))
        except psycopg.OperationalError:
            break
    if not ended:
        break
print("holding", len(held), flush=True)
time.sleep(float(sys.argv[1]))
"""


@contextmanager
def web_pools_starved(lab, seconds: int) -> Iterator[None]:
    """From app-1 (pg_hba admits it), end the web pools' sessions and hold every slot."""
    argv = [
        *lab_ssh_argv(lab, "app-1"),
        f"sudo /opt/goalgpt/venv/bin/python - {seconds}",
    ]
    holder = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdin.write(STARVE)
    holder.stdin.close()
    try:
        assert holder.stdout.readline().startswith("holding"), "could not hold the slots"
        yield
    finally:
        holder.terminate()
        holder.wait(timeout=30)


def lab_ssh_argv(lab, host: str) -> list[str]:
    from tests.lab.inventory import ssh_argv

    return ssh_argv(lab.config, host)


def test_pool_waiting_above_5_fires_and_reaches_the_alert_log_on_mon_1(fleet):
    firing = '{alertname="GoalGPTPoolWaiting",alertstate="firing"}'

    def logged() -> bool:
        out = fleet.run("mon-1", ["sudo", "cat", ALERT_LOG]).stdout
        return any(
            json.loads(line)["alertname"] == "GoalGPTPoolWaiting" for line in out.splitlines()
        )

    with (
        web_pools_starved(fleet, seconds=300),
        concurrent_requests(f"http://{fleet.address('app-1')}:8000", clients=8),
        concurrent_requests(f"http://{fleet.address('app-2')}:8000", clients=8),
    ):
        wait_for(
            lambda: prometheus(fleet, "/api/v1/query", query=f"ALERTS{firing}")["result"],
            "the alert never fired",
        )
        wait_for(logged, "the alert never reached the alert log on mon-1")


def test_history_report_from_mon_1_has_all_four_metrics(fleet):
    url = f"http://{fleet.address('mon-1')}:{PROMETHEUS_PORT}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "checks.monitor",
            "--prometheus-url",
            url,
            "--since",
            "10m",
            "--json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    metrics = json.loads(done.stdout.splitlines()[-1])["metrics"]
    assert {m for m, s in metrics.items() if s["samples"]} == set(metrics)
