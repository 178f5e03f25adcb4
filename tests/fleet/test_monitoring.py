"""Monitoring on the fleet lab, on the session's one fleet deployment (`first_fleet_deploy`):
Prometheus on mon-1 scrapes app-1, app-2, the postgres exporter on db-1 and both redis
exporters on redis-1 and our PgBouncer exporter on db-1; pool waiting above 5, provoked
for real in PgBouncer (cl_waiting) from both app hosts during raise_pool's watch, fires in
Prometheus, reaches the alert log on mon-1 and fails the
watch, which samples mon-1's Prometheus; the 24 h report reads mon-1's history.
Runs after test_fleet.py (file order); what a test breaks it puts back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest

from checks import alert_rules, thresholds
from tests.fleet import bouncer
from tests.fleet.hosts import on, prometheus_url, report, url, wait_ready
from tests.fleet.hosts import prometheus as api
from tests.support.checks import (
    assert_all_four_metrics_sampled,
    first_firing,
    history_report,
    logged_value,
    utc_stamp,
)
from tests.support.deployment import REPO
from tests.support.traffic import cached_requests, concurrent_requests, senders

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ALERT_LOG = "/var/log/goalgpt/alerts.jsonl"  # roles/alertmanager
DATABASE = "goalgpt"
# A turn of the lock: a miss or two through each, so eight to fifteen wait at PgBouncer
# and the oldest 6 s at most (measured on the lab), inside PgBouncer's query_wait_timeout
# (roles/pgbouncer: 10 s). Shorter turns drain the queue to 5 at times.
LOCK_S = 0.5
LOCK_FOR_AT_MOST_S = 300  # a lock a killed test left ends by itself
LOCKER = "goalgpt-test-lock"  # its application_name, by which it is ended
T = TypeVar("T")


def wait_for(check: Callable[[], T], what: str, timeout: float = 120) -> T:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, what
        time.sleep(2)
    return result


@pytest.fixture(scope="module")
def fleet(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0, first_fleet_deploy.run.tail()
    return lab


def test_prometheus_on_mon_1_scrapes_every_app_and_exporter_host(fleet):
    def all_up() -> list[dict] | None:
        active = api(fleet, "/api/v1/targets")["activeTargets"]
        return active if active and all(t["health"] == "up" for t in active) else None

    active = wait_for(all_up, "a target stayed down")

    hosts: dict[str, list[str]] = {}
    for target in active:
        hosts.setdefault(target["labels"]["job"], []).append(target["labels"].get("host"))
    assert sorted(hosts["goalgpt"]) == ["app-1", "app-2"]
    assert hosts["postgres"] == ["db-1"]
    assert hosts["pgbouncer"] == ["db-1"]
    assert hosts["redis"] == ["redis-1", "redis-1"]  # the cache and the queue instance
    assert hosts["backup"] == ["mon-1"]  # the backup exporter beside the repository
    groups = api(fleet, "/api/v1/rules")["groups"]
    rules = {r["name"]: r["health"] for g in groups for r in g["rules"]}
    assert rules == dict.fromkeys(alert_rules.alert_names(thresholds.load()), "ok")


def psql(lab, sql: str) -> str:
    return on(lab, "db-1", f'sudo -u postgres psql -At -d postgres -c "{sql}"')


@contextmanager
def clients_queued_at_pgbouncer(lab) -> Iterator[None]:
    """The web's misses queue in PgBouncer (cl_waiting): its pool cut to one server
    connection (a reload), held by a query waiting behind a lock db-1 takes on the
    predictions table. One session takes it again and again, LOCK_S at a time, with no
    gap between (the waiting query is ahead of the next LOCK in PostgreSQL's lock queue):
    few misses get through a turn, so the queue stays deep at every scrape and the hit
    rate high. Each client waits less than PgBouncer's query_wait_timeout, so nothing is
    refused and no other alert fires."""
    script = f"""
SET application_name = '{LOCKER}';
DO $lock$ DECLARE until timestamptz := clock_timestamp() + interval '{LOCK_FOR_AT_MOST_S} s';
BEGIN
  WHILE clock_timestamp() < until LOOP
    LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE;
    PERFORM pg_sleep({LOCK_S});
    COMMIT;
  END LOOP;
END $lock$;"""
    hold = f"sudo -u postgres psql -q -d {DATABASE} <<'SQL'\n{script}\nSQL"
    stop = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    stop += f" WHERE application_name = '{LOCKER}'"

    def lock_until_stopped(_stop, _) -> None:
        lab.run("db-1", hold, timeout=LOCK_FOR_AT_MOST_S + 60)  # ends when terminated

    queued = {"default_pool_size": 1, "reserve_pool_size": 0, "max_db_connections": 1}
    with bouncer.reloaded_with(lab, **queued), senders(lock_until_stopped, [None], join_s=60):
        try:
            yield
        finally:
            psql(lab, stop)


def alert_logged(lab, name: str, since: str = "") -> dict | None:
    return first_firing(lab.run("mon-1", ["sudo", "cat", ALERT_LOG]).stdout, name, since)


def pool_size(lab, host: str) -> int:
    line = on(lab, host, "sudo grep '^DB_MAX_CONNECTIONS=' /etc/goalgpt/goalgpt.env")
    return int(line.split("=", 1)[1].strip('"'))


@contextmanager
def raise_pool_watching(lab, log: Path, watch_s: int) -> Iterator[subprocess.Popen[bytes]]:
    """raise_pool.yml to the size every host has already (nothing rolls), from its start
    until its watch runs; on exit, waits for it to end."""
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/raise_pool.yml"]
    argv += ["-i", str(lab.inventory_path), "-e", f"db_max_connections={pool_size(lab, 'app-1')}"]
    argv += ["-e", f"raise_pool_watch_s={watch_s}", "-e", "raise_pool_watch_interval_s=5"]
    env = os.environ | {"ANSIBLE_NOCOLOR": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        wait_for(
            lambda: "TASK [Watch - one poll" in log.read_text() or proc.poll() is not None,
            "raise_pool.yml never reached its watch",
            timeout=600,
        )
        assert proc.poll() is None, log.read_text()[-3000:]
        yield proc
        proc.wait(timeout=watch_s + 300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_pool_waiting_above_5_fires_on_mon_1_reaches_its_alert_log_and_fails_the_watch(fleet):
    """During raise_pool's watch (its monitor sampling mon-1's Prometheus): the rule fires,
    Alertmanager delivers it to the alert log, and the watch sees it and fails the run."""
    firing = '{alertname="GoalGPTPoolWaiting",alertstate="firing"}'
    # The largest queue one bouncer pool held: no subquery, so no sample is stepped over.
    at_bouncer = "max(max_over_time(pgbouncer_pools_client_waiting_connections[5m]))"
    log = REPO / "build" / "lab-raise-pool-watch.log"
    logged_since = utc_stamp()  # an alert logged before is not this test's
    try:
        # Hits from before the watch: the misses sent below (and any a test before sent)
        # must not bring the hit rate under its trigger and fail the watch first.
        with (
            cached_requests(url(fleet, "app-1", ""), clients=1),
            cached_requests(url(fleet, "app-2", ""), clients=1),
            raise_pool_watching(fleet, log, watch_s=60) as raise_pool,
        ):
            started, since = time.monotonic(), bouncer.now()
            with (
                clients_queued_at_pgbouncer(fleet),
                concurrent_requests(url(fleet, "app-1", ""), clients=8),
                concurrent_requests(url(fleet, "app-2", ""), clients=8),
            ):
                fired = wait_for(
                    lambda: api(fleet, "/api/v1/query", query=f"ALERTS{firing}")["result"],
                    "GoalGPTPoolWaiting never fired in Prometheus on mon-1",
                )
                logged = wait_for(
                    lambda: alert_logged(fleet, "GoalGPTPoolWaiting", logged_since),
                    f"GoalGPTPoolWaiting never reached {ALERT_LOG} on mon-1",
                )
                queued = api(fleet, "/api/v1/query", query=at_bouncer)["result"][0]["value"][1]
            took = time.monotonic() - started
            report(f"pool waiting alert fired and logged {took:.0f} s after the cut-off")
            # Not 'too many clients': no refusal was counted anywhere in the fleet.
            increase = f"sum(increase(goalgpt_db_too_many_clients_total[{took + 30:.0f}s]))"
            refusals = float(api(fleet, "/api/v1/query", query=increase)["result"][0]["value"][1])
            refused_by_bouncer = bouncer.refusals_since(fleet, since)
    finally:
        for host in fleet.groups["app"]:
            # The cache misses sent here would weigh on the app's hit rate since start,
            # which the smoke gate of a later deploy reads: start it afresh.
            on(fleet, host, "sudo systemctl restart goalgpt-web")
            wait_ready(fleet, host, within_s=120)

    assert logged_value(logged) > 5
    assert float(queued) > 5  # the bouncer's cl_waiting alone is above the trigger
    assert fired[0]["metric"]["severity"] == "warning"
    assert logged["annotations"]["action"] == "Check for connection leaks"
    assert logged["receiver"] == "goalgpt"
    assert (refusals, refused_by_bouncer) == (0, 0)
    output = " ".join(log.read_text().split())
    assert raise_pool.returncode != 0, output[-3000:]
    assert f"{prometheus_url(fleet)} (goalgpt_* series of the app hosts)" in output
    assert "the monitor fired during the watch window:" in output, output[-3000:]
    assert "pool_waiting=" in output, output[-3000:]
    assert "cache_hit_rate=" not in output, output[-3000:]
    assert "Put back: nothing." in output


def test_history_report_from_mon_1_has_all_four_metrics(fleet):
    # A step shorter than the scrape interval (15 s) reads every sample the alert rule
    # read: the queue the test above made at PgBouncer lasted about a minute, which the
    # default step (60 s) may step over.
    summary = history_report(prometheus_url(fleet), "--interval", "5")

    assert_all_four_metrics_sampled(summary)
    assert "pool_waiting" in [f["metric"] for f in summary["fired"]]
