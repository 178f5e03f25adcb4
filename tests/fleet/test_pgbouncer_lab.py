"""PgBouncer on the fleet lab (db-1, group pgbouncer), on the session's one fleet
deployment: the app and worker hosts reach PostgreSQL only through it; its
max_client_conn exceeded on purpose is counted by the app and fires MaxClients on
mon-1; SIGKILLed, systemd brings it back and the app recovers without a deploy; a fleet
of four times the lab's web processes, above max_connections, is refused by the demand
check without PgBouncer and deploys and serves a burst of misses with it.
Runs after test_monitoring.py (file order); what a test bends it puts back, but the
bigger fleet, which runs after every other lab test (worker_groups.RUN_LAST)."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.fleet import bouncer
from tests.fleet.hosts import on, playbook, report, status_of, url, wait_ready
from tests.support.fleet_deploy import deploy
from tests.support.prometheus import sample_value
from tests.support.traffic import concurrent_requests
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PROMETHEUS_PORT = 9090  # roles/prometheus, the lab inventory leaves it
TOO_MANY = "goalgpt_db_too_many_clients_total"
# Four times the lab's 2 web processes per app host: 16 x (4 threads + 2 refreshes) + 4
# workers x 2 = 104 connections at once, above max_connections 100 (97 usable).
FOUR_TIMES = ("-e", "goalgpt_base_web_workers=8")
BURST = 200


@pytest.fixture(scope="module")
def fleet(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0, first_fleet_deploy.run.tail()
    return lab


def psql_on_db(lab, sql: str) -> list[str]:
    done = on(lab, "db-1", f'sudo -u postgres psql -At -d goalgpt -c "{sql}"')
    return done.splitlines()


def app_refusals(lab) -> float:
    """goalgpt_db_too_many_clients_total over both app hosts' /metrics."""
    total = 0.0
    for host in lab.groups["app"]:
        with urllib.request.urlopen(url(lab, host, "/metrics"), timeout=10) as answer:
            text = answer.read().decode()
        total += sum(sample_value(text, TOO_MANY, source=s) for s in ("connect", "query"))
    return total


def firing(lab, alert: str) -> list[dict]:
    query = urllib.parse.urlencode({"query": f'ALERTS{{alertname="{alert}",alertstate="firing"}}'})
    address = f"http://{lab.address('mon-1')}:{PROMETHEUS_PORT}/api/v1/query?{query}"
    with urllib.request.urlopen(address, timeout=10) as answer:
        return json.load(answer)["data"]["result"]


def test_app_and_worker_hosts_reach_postgresql_only_through_pgbouncer(fleet):
    clients = {fleet.address(h): h for h in fleet.groups["app"] + fleet.groups["workers"]}
    since = time.time() - 3600

    def logged_in() -> set[str]:
        seen = set(bouncer.app_logins_since(fleet, since))
        return seen if set(clients) <= seen else set()

    # The web pools log in at start; a worker host only when it runs a job (every minute).
    through_bouncer = wait_for(logged_in, 180, "every app and worker host to log in to PgBouncer")
    sessions = psql_on_db(
        fleet,
        "SELECT DISTINCT host(client_addr) FROM pg_stat_activity WHERE usename = 'goalgpt'",
    )

    assert set(clients) <= through_bouncer
    assert sessions == [fleet.address(bouncer.HOST)]  # every app-role session is the bouncer's


def test_max_client_conn_exceeded_is_counted_by_the_app_and_fires_max_clients(fleet):
    used = int(bouncer.metrics(fleet)["pgbouncer_lists_used_clients"])
    counted_before, since = app_refusals(fleet), bouncer.now()
    try:
        # Only the web connects meanwhile (no job is counted), and no new client fits.
        with bouncer.workers_stopped(fleet), bouncer.reloaded_with(fleet, max_client_conn=used):
            with (
                concurrent_requests(url(fleet, "app-1", ""), clients=8),
                concurrent_requests(url(fleet, "app-2", ""), clients=8),
            ):
                fired = wait_for(
                    lambda: firing(fleet, "GoalGPTMaxClientsErrors"),
                    120,
                    "GoalGPTMaxClientsErrors to fire on mon-1",
                    every=2,
                )
            counted = app_refusals(fleet) - counted_before
            refused = bouncer.refusals_since(fleet, since)
    finally:
        for host in fleet.groups["app"]:
            # The refusals counted in this hour would fail a later smoke gate: start afresh.
            on(fleet, host, "sudo systemctl restart goalgpt-web")
            wait_ready(fleet, host, within_s=120)
    report(f"max_client_conn={used}: PgBouncer refused {refused}, the app counted {counted}")

    assert refused > 3
    assert counted > 3  # each refused connect, as the seed's MaxClients counts them
    assert fired[0]["metric"]["severity"] == "critical"


def test_pgbouncer_killed_with_sigkill_is_back_by_systemd_and_the_app_recovers(fleet):
    before = bouncer.main_pid(fleet)
    started = time.monotonic()
    on(fleet, bouncer.HOST, f"sudo kill -9 {before}")

    back = wait_for(
        lambda: bouncer.main_pid(fleet) not in (0, before), 30, "systemd to restart PgBouncer"
    )
    restarted_s = time.monotonic() - started
    fresh = [
        url(fleet, host, f"/api/predictions/matched?user_id={900_000 + n}")
        for n, host in enumerate(fleet.groups["app"])
    ]
    # A cache miss on each app host must reach PostgreSQL again, through the new PgBouncer.
    for address in fresh:
        wait_for(lambda a=address: status_of(a, timeout=10) == 200, 60, f"{address} answers 200")
    recovered_s = time.monotonic() - started
    report(f"PgBouncer back {restarted_s:.1f} s after kill -9, misses served {recovered_s:.1f} s")

    assert back != before
    assert on(fleet, bouncer.HOST, f"systemctl is-active {bouncer.UNIT}") == "active"


def distinct_misses(lab, count: int) -> list[int]:
    """`count` requests for keys nobody asked yet, all at once over both app hosts."""
    hosts = lab.groups["app"]
    first = int(time.time() * 1000) % 10**9
    targets = [
        url(lab, hosts[n % len(hosts)], f"/api/predictions/matched?user_id={first + n}")
        for n in range(count)
    ]
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda t: status_of(t, timeout=60), targets))


def web_processes(lab, host: str) -> int:
    """gunicorn's workers on host (the master's children)."""
    master = on(lab, host, "systemctl show -p MainPID --value goalgpt-web")
    return len(on(lab, host, f"pgrep -P {master}").split())


def test_a_fleet_above_max_connections_needs_pgbouncer_and_serves_a_burst_through_it(fleet):
    direct = playbook(
        fleet, "fleet_demand.yml", *FOUR_TIMES, "-e", "goalgpt_pgbouncer_enabled=false"
    )
    # Runs last (tests/support/worker_groups.RUN_LAST): the bigger fleet stays deployed.
    started = time.monotonic()
    deployed = deploy(fleet.inventory_path, *FOUR_TIMES)
    report(f"deploy of 4x the web processes: {time.monotonic() - started:.0f} s")
    assert deployed.run.returncode == 0, deployed.run.tail()
    processes = [web_processes(fleet, host) for host in fleet.groups["app"]]
    counted, since = app_refusals(fleet), bouncer.now()
    statuses = distinct_misses(fleet, BURST)
    counted = app_refusals(fleet) - counted
    refused = bouncer.refusals_since(fleet, since)

    assert direct.returncode != 0
    refusal = " ".join(direct.output.split())
    assert "Refusing to deploy, nothing was changed: server side (PostgreSQL): 104 above 97" in (
        refusal
    )
    output = " ".join(deployed.run.output.split())
    assert "client side (PgBouncer): 104 within 1000" in output
    assert "server side (PostgreSQL): 31 within 77" in output
    assert processes == [8, 8]
    assert statuses.count(200) == BURST, sorted(set(statuses))
    assert (counted, refused) == (0, 0)  # no refusal at either layer
