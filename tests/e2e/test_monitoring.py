"""Monitoring after `make deploy` on the isolated root: Prometheus scrapes every target,
the rules rendered from checks/thresholds.yml are loaded, and the 24 h report reads
them back from Prometheus. Runs after test_deploy.py on the same deployment."""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from app.infra import keys, redis_client
from checks import alert_rules, thresholds
from tests.support.checks import (
    assert_all_four_metrics_sampled,
    first_firing,
    history_report,
    logged_value,
    utc_stamp,
)
from tests.support.deployment import Deployment
from tests.support.traffic import senders

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def api(deployment: Deployment, path: str) -> dict:
    with urllib.request.urlopen(f"{deployment.prometheus_url}{path}", timeout=10) as response:
        return json.load(response)["data"]


def wait_for(check, what: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, what
        time.sleep(1)
    return result


def test_every_target_is_scraped_and_up(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0

    def all_up() -> list[dict] | None:
        active = api(deployment, "/api/v1/targets")["activeTargets"]
        return active if active and all(t["health"] == "up" for t in active) else None

    active = wait_for(all_up, "a target stayed down")
    jobs = sorted(t["labels"]["job"] for t in active)
    # One redis exporter per instance: the cache and the queues; the backup exporter;
    # PgBouncer's.
    assert jobs == [
        "alertmanager", "backup", "goalgpt", "pgbouncer", "postgres", "prometheus", "redis",
        "redis",
    ]  # fmt: skip
    # A target up is not enough: the PgBouncer exporter answers pgbouncer_up 0 when it
    # cannot log in to the console (under supervisord it once could not: root's HOME).
    query = "/api/v1/query?query=pgbouncer_up"
    answered = wait_for(lambda: api(deployment, query)["result"], "no pgbouncer_up sample")
    assert [sample["value"][1] for sample in answered] == ["1"]


def test_the_rendered_rules_are_loaded(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    groups = api(deployment, "/api/v1/rules")["groups"]
    rules = {r["name"]: r["health"] for g in groups for r in g["rules"]}
    assert rules == dict.fromkeys(alert_rules.alert_names(thresholds.load()), "ok")


def test_history_report_has_all_four_metrics(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    stop = threading.Event()

    def traffic() -> None:  # enough requests for a cache hit rate (min_requests)
        user_id = 0
        while not stop.is_set():
            user_id = (user_id + 1) % 5
            url = f"{deployment.base_url}/api/predictions/matched?user_id={user_id + 1}"
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=5).read()
            time.sleep(0.05)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        wait_for(
            lambda: api(deployment, "/api/v1/query?query=sum(goalgpt_cache_requests_total)>=40")[
                "result"
            ],
            "Prometheus saw no cache requests",
        )
        time.sleep(5)  # a few more scrapes (every 2 s here)
    finally:
        stop.set()
        sender.join(timeout=10)

    summary = history_report(deployment.prometheus_url, "--interval", "2")
    assert_all_four_metrics_sampled(summary)
    assert summary["cache_requests_total"] >= 40


@contextmanager
def queue_in_pgbouncer(database_url: str, held: int, waiting: int) -> Iterator[None]:
    """`held` clients each keep one of PgBouncer's server connections in an open
    transaction (all it may open: its max_db_connections) and `waiting` more send a query
    again and again: they queue in PgBouncer (cl_waiting). The web is left its threads,
    so Prometheus keeps scraping it (every 2 s, a 2 s timeout)."""

    def wait_in_line(stop: threading.Event, _: int) -> None:
        while not stop.is_set():
            try:  # thrown out after query_wait_timeout: back in line
                with psycopg.connect(database_url, prepare_threshold=None) as conn:
                    conn.execute("SELECT 1")
            except psycopg.OperationalError:
                pass

    holders: list[psycopg.Connection] = []
    try:
        for _ in range(held):
            holders.append(psycopg.connect(database_url, prepare_threshold=None))
            holders[-1].execute("SELECT 1")  # a transaction opens: it keeps its server connection
        with senders(wait_in_line, range(waiting), join_s=30):
            yield
            for conn in holders:  # the waiters' queries get through, and they stop
                conn.close()
    finally:
        for conn in holders:
            conn.close()


def bouncer_server_limit(deployment: Deployment) -> int:
    """max_db_connections of the deployed pgbouncer.ini."""
    ini = Path(deployment.variables()["pgbouncer_conf_dir"]) / "pgbouncer.ini"
    return int(re.search(r"^max_db_connections = (\d+)$", ini.read_text(), re.M)[1])


def alert_logged(deployment: Deployment, name: str, since: str = "") -> dict | None:
    if not deployment.alert_log.exists():
        return None
    return first_firing(deployment.alert_log.read_text(), name, since)


def test_pool_waiting_above_5_fires_and_reaches_the_alert_log(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    query = '/api/v1/query?query=ALERTS{alertname="GoalGPTPoolWaiting",alertstate="firing"}'
    started = utc_stamp()  # an alert logged before is not this test's

    url, held = deployment.env()["DATABASE_URL"], bouncer_server_limit(deployment)
    with queue_in_pgbouncer(url, held, waiting=10):
        firing = wait_for(lambda: api(deployment, query)["result"], "the alert never fired")
        logged = wait_for(
            lambda: alert_logged(deployment, "GoalGPTPoolWaiting", started), "no alert in the log"
        )

    assert logged_value(logged) > 5
    assert firing[0]["metric"]["severity"] == "warning"
    assert logged["annotations"]["action"] == "Check for connection leaks"
    assert logged["receiver"] == "goalgpt"
    forget_the_refusals(deployment)
    # The app serves again once the slots are free (the next tests need it).
    wait_for(lambda: _answers(deployment.base_url), "the app did not recover", timeout=120)


def forget_the_refusals(deployment: Deployment) -> None:
    """Put the deployment back: the held pool made the jobs (and the web) count PgBouncer's
    query_wait_timeout refusals, and the smoke gate of every later deploy would refuse for
    an hour."""
    queues = redis_client.client(deployment.env()["RQ_REDIS_URL"], connect_timeout_s=5)
    queues.delete(keys.DB_REFUSALS_RECENT)
    restarted = deployment.supervisorctl("restart", "goalgpt-web")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr


def _answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/api/predictions/matched?user_id=1", timeout=10):
            return True
    except OSError:
        return False


def alertmanager(deployment: Deployment, path: str, body: list | None = None):
    url = f"http://127.0.0.1:{deployment.alertmanager_port}{path}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read()
    return json.loads(text) if text else None


def test_a_postgres_outage_pages_once_not_also_as_a_pool_leak(first_deploy, deployment):
    """Alertmanager as deployed: GoalGPTPostgresDown firing holds back GoalGPTPoolWaiting
    (the rendered inhibitions); both are posted as Prometheus would, with a label of
    their own, and ended afterwards."""
    assert first_deploy.returncode == 0
    now = datetime.now(UTC)
    labels = {"service": "goalgpt", "drill": "inhibition"}
    alerts = [
        {
            "labels": {"alertname": name, "severity": "critical", **labels},
            "startsAt": now.isoformat(),
        }
        for name in ("GoalGPTPostgresDown", "GoalGPTPoolWaiting")
    ]
    alertmanager(deployment, "/api/v2/alerts", alerts)
    try:
        states = wait_for(
            lambda: (
                {
                    a["labels"]["alertname"]: a["status"]
                    for a in alertmanager(
                        deployment, "/api/v2/alerts?filter=drill%3D%22inhibition%22"
                    )
                }
                or None
            ),
            "Alertmanager never listed the posted alerts",
        )
        logged = wait_for(
            lambda: alert_logged(deployment, "GoalGPTPostgresDown"), "PostgresDown never logged"
        )
    finally:
        ended = [a | {"endsAt": datetime.now(UTC).isoformat()} for a in alerts]
        alertmanager(deployment, "/api/v2/alerts", ended)

    assert states["GoalGPTPostgresDown"]["state"] == "active"
    assert states["GoalGPTPoolWaiting"]["state"] == "suppressed"
    assert states["GoalGPTPoolWaiting"]["inhibitedBy"], states
    assert logged["labels"]["drill"] == "inhibition"
