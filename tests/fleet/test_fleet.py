"""The fleet on the lab: deploy, testinfra on every host, the smoke gate against both app
hosts, a second deploy that changes nothing, single-flight across hosts, systemd bringing
services back (kill -9, reboot); who may reach what is test_security.py's.
One lab per run (the session fixture `lab`), tests in file order; a test that breaks a
host puts it back."""

from __future__ import annotations

import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.fleet.hosts import on, report, status_of, url, wait_ready
from tests.support import infra_suite
from tests.support.fleet_deploy import TimedRun, deploy
from tests.support.processes import run_module

pytestmark = [pytest.mark.lab, pytest.mark.slow]

QUERY_TAG = "goalgpt:predictions_matched"  # app/web/query.py
CONCURRENT = 100


def psql_on_db(lab, sql: str) -> str:
    return on(lab, "db-1", f'sudo -u postgres psql -At -d goalgpt -c "{sql}"')


def test_first_deploy_is_green_on_every_host(first_fleet_deploy: TimedRun):
    run = first_fleet_deploy.run
    report(f"first deploy: {first_fleet_deploy.seconds:.0f} s")
    assert run.returncode == 0, run.tail()
    failed = run.failed()
    assert failed and set(failed.values()) == {0}, failed


def test_testinfra_checks_every_host(first_fleet_deploy, lab, tmp_path):
    assert first_fleet_deploy.run.returncode == 0
    report_xml = tmp_path / "testinfra.xml"
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    done = run_module(
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/deployed",
        "--hosts=ansible://all",
        f"--ansible-inventory={lab.inventory_path}",
        "--sudo",
        f"--junitxml={report_xml}",
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-5000:]
    # A host may be in several groups (mon-1 is the monitoring and the backup host).
    groups = {host: lab.config.groups_of(host) for host in lab.hosts}
    judged = infra_suite.judge(infra_suite.outcomes(report_xml), groups)
    report(f"testinfra tests run per host: {judged.ran}")
    assert not judged.problems, "\n".join(judged.problems)


def test_web_and_worker_units_are_active_and_enabled(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0
    for host in lab.groups["app"]:
        on(lab, host, "systemctl is-active goalgpt-web && systemctl is-enabled goalgpt-web")
    for host in lab.groups["workers"]:
        units = "goalgpt-worker@1 goalgpt-worker@2"
        on(lab, host, f"systemctl is-active {units} && systemctl is-enabled {units}")
    crons = [
        host
        for host in lab.groups["workers"]
        if lab.run(host, "systemctl is-active goalgpt-cron").stdout.strip() == "active"
    ]
    assert crons == [lab.groups["workers"][0]]


def test_smoke_gate_passes_against_both_app_hosts(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0
    gate = lab.run(
        "app-1",
        "cd /opt/goalgpt/current && sudo env PYTHONPATH=/opt/goalgpt/current/tools-site "
        "/opt/goalgpt/bin/goalgpt-env /opt/goalgpt/current/venv/bin/python "
        "-m pytest -v -p no:cacheprovider --pyargs checks",
        timeout=300,
    )
    assert gate.returncode == 0, gate.stdout[-4000:]
    for host in lab.groups["app"]:
        assert lab.address(host) in gate.stdout, gate.stdout[:1000]


def test_second_deploy_changes_nothing(second_fleet_deploy, lab):
    again = second_fleet_deploy
    report(f"second deploy (-vvv): {again.seconds:.0f} s")
    assert again.run.returncode == 0, again.run.tail()
    changed = again.run.changed()
    # Every lab host in the recap (none dropped unreachable), none changed.
    assert set(changed) == set(lab.hosts), changed
    assert set(changed.values()) == {0}, (changed, again.run.changed_tasks())


def test_a_deploy_with_nothing_changed_runs_only_the_build_and_the_smoke_gate(
    second_fleet_deploy, lab
):
    assert second_fleet_deploy.run.returncode == 0, second_fleet_deploy.run.tail()
    again = deploy(lab.inventory_path)
    report(f"deploy with every host as the last one left it: {again.seconds:.0f} s")
    assert again.run.returncode == 0, again.run.tail()
    changed = again.run.changed()
    assert set(changed) == set(lab.hosts) and set(changed.values()) == {0}, changed
    assert "Every host is as the last deploy left it" in again.run.output, again.run.tail()
    assert "TASK [Run the smoke gate (pytest checks/) against every app host]" in again.run.output
    assert "TASK [firewall" not in again.run.output and "TASK [postgresql" not in again.run.output


def test_cold_requests_over_both_app_hosts_reach_postgresql_once(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0
    psql_on_db(lab, "SELECT pg_stat_statements_reset()")
    # A user nobody asked for yet: the cache key is cold on both hosts.
    path = f"/api/predictions/matched?user_id={uuid.uuid4().int % 10**9}"
    targets = [url(lab, host, path) for host in lab.groups["app"]] * (CONCURRENT // 2)
    start = threading.Barrier(len(targets))

    def fetch(address: str) -> int:
        start.wait()
        return status_of(address, timeout=30)

    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        statuses = list(pool.map(fetch, targets))
    assert statuses.count(200) == CONCURRENT, sorted(set(statuses))
    calls = psql_on_db(
        lab,
        f"SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '%{QUERY_TAG}%'",
    )
    assert int(calls) == 1


def test_gunicorn_master_killed_is_back_by_systemd(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0
    show = "systemctl show -p MainPID --value goalgpt-web"
    before = on(lab, "app-1", show)
    try:
        on(lab, "app-1", f"sudo kill -9 {before}")
        report(f"app-1 /readyz back {wait_ready(lab, 'app-1', within_s=30):.1f} s after kill -9")
        assert on(lab, "app-1", show) not in ("0", before)
    finally:
        lab.restore("app-1")


def test_rebooted_hosts_come_back_without_ansible(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0
    try:
        lab.reboot("app-2")
        lab.reboot("worker-1")
        wait_ready(lab, "app-2", within_s=60)
        for unit in ("goalgpt-worker@1", "goalgpt-worker@2", "goalgpt-cron"):
            deadline = time.monotonic() + 60
            while lab.run("worker-1", f"systemctl is-active {unit}").stdout.strip() != "active":
                assert time.monotonic() < deadline, f"{unit} not active on worker-1 after reboot"
                time.sleep(1)
    finally:
        lab.restore("app-2")
        lab.restore("worker-1")
