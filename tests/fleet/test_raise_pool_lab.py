"""raise_pool.yml on the lab's fleet (issue 12): a web unit that fails on restart on
app-2 puts app-1 and app-2 back; the monitor firing during the watch puts both app hosts
back, their web processes restarted on the old value. Worker hosts are never touched
(their env file, their processes): rq workers do not read DB_MAX_CONNECTIONS.

Runs after test_fleet.py on its deployment (the session's first_fleet_deploy). NEW is a
real raise above the deployed value: the web pool cannot use it (threads + refreshes),
so the fleet's demand stays in the budget and the gate lets it through. Every run is
put back, so the lab ends on the deployed value."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import yaml

from tests.fleet.hosts import (
    app_and_worker_hosts,
    env_value,
    main_pids,
    playbook,
    process_env,
    sudo,
    url,
)
from tests.lab import Lab
from tests.support.deployment import REPO, PlaybookRun
from tests.support.traffic import senders

pytestmark = [pytest.mark.lab, pytest.mark.slow]

RAISE_BY = 10
SHORT_WATCH = ("-e", "raise_pool_watch_s=8", "-e", "raise_pool_watch_interval_s=2")
DROP_IN = "/etc/systemd/system/goalgpt-web.service.d/zz-test-refuse-start.conf"
STRICT_THRESHOLDS = "/tmp/raise-pool-strict-thresholds.yml"


def raise_pool(lab: Lab, new: str, *options: str) -> PlaybookRun:
    """raise_pool.yml on the lab to DB_MAX_CONNECTIONS=new, with more `-e` options."""
    return playbook(lab, "raise_pool.yml", "-e", f"db_max_connections={new}", *options)


@pytest.fixture(scope="module")
def deployed(first_fleet_deploy, lab: Lab) -> str:
    """The fleet as test_fleet.py left it; the pool value every host is on."""
    assert first_fleet_deploy.run.returncode == 0
    values = {env_value(lab, host) for host in app_and_worker_hosts(lab)}
    assert len(values) == 1, values
    return values.pop()


@pytest.fixture
def web_refuses_to_start_on_app_2(lab: Lab) -> Iterator[None]:
    """A systemd drop-in that makes goalgpt-web on app-2 fail to start; removed after,
    and the unit started again on the env file's value."""
    sudo(
        lab,
        "app-2",
        'mkdir -p "$(dirname "$1")" && printf "[Service]\\nExecStartPre=/bin/false\\n" > "$1" '
        "&& systemctl daemon-reload",
        DROP_IN,
    )
    try:
        yield
    finally:
        sudo(
            lab,
            "app-2",
            'rm -f "$1" && systemctl daemon-reload '
            "&& systemctl reset-failed goalgpt-web.socket goalgpt-web.service "
            "&& systemctl start goalgpt-web.socket && systemctl restart goalgpt-web.service",
            DROP_IN,
        )


def test_a_web_unit_that_fails_on_restart_puts_app_1_and_app_2_back(
    deployed: str, lab: Lab, web_refuses_to_start_on_app_2: None
):
    old, new = deployed, str(int(deployed) + RAISE_BY)
    before = {host: main_pids(lab, host) for host in app_and_worker_hosts(lab)}

    run = raise_pool(lab, new, "-e", "goalgpt_app_ready_retries=10", *SHORT_WATCH)

    assert run.returncode != 0, run.tail()
    output = " ".join(run.output.split())
    assert (
        f"Plan: set DB_MAX_CONNECTIONS to {new} (now: app-1 {old}, app-2 {old}). Only the web "
        "processes read it: write it and restart the web app on app-1, app-2, 1 host(s) at a "
        "time. Not touched: worker-1, worker-2 (worker hosts): rq workers read "
        "JOB_DB_MAX_CONNECTIONS, not DB_MAX_CONNECTIONS."
    ) in output, run.tail()
    assert f"Rolled back DB_MAX_CONNECTIONS={new}: app-2 failed at" in output, run.tail()
    assert f"Put back: app-1 to {old}, app-2 to {old}" in output, run.tail()
    assert env_value(lab, "app-1") == env_value(lab, "app-2") == old
    assert set(process_env(lab, "app-1").values()) == {old}
    assert main_pids(lab, "app-1")["goalgpt-web.service"] != before["app-1"]["goalgpt-web.service"]
    for host in lab.groups["workers"]:
        assert env_value(lab, host) == old
        assert set(process_env(lab, host).values()) == {old}
        assert main_pids(lab, host) == before[host], f"{host} was touched"


@contextmanager
def cache_missing_traffic(urls: list[str]) -> Iterator[None]:
    """Requests to every app host that each miss the cache, until the block ends."""

    def send(stop: threading.Event, base: str) -> None:
        user_id = int(time.time() * 1000) % 10**9
        while not stop.is_set():
            user_id += 1
            try:
                with urllib.request.urlopen(
                    f"{base}/api/predictions/matched?user_id={user_id}", timeout=10
                ) as answer:
                    answer.read()
            except OSError:
                time.sleep(0.2)
            time.sleep(0.05)

    with senders(send, urls, join_s=15):
        yield


@pytest.fixture
def strict_thresholds_on_app_1(lab: Lab) -> Iterator[str]:
    """checks/thresholds.yml with a cache-hit-rate trigger that misses always breach, on
    the host that runs the probe and the monitor (the first app host)."""
    data = yaml.safe_load((REPO / "checks" / "thresholds.yml").read_text())
    data["monitor"]["cache_hit_rate"].update(
        target_above_pct=99.5, trigger_below_pct=99, window_s=30, min_requests=5
    )
    sudo(lab, "app-1", 'printf "%s" "$2" > "$1"', STRICT_THRESHOLDS, yaml.safe_dump(data))
    try:
        yield STRICT_THRESHOLDS
    finally:
        sudo(lab, "app-1", 'rm -f "$1"', STRICT_THRESHOLDS)


@pytest.fixture
def web_metrics_reset_after(lab: Lab) -> Iterator[None]:
    """The cache-missing traffic leaves a cache hit rate the next deploy's smoke gate
    refuses (its window is 5 minutes): restart the web apps afterwards, which empties
    their metrics."""
    yield
    for host in lab.groups["app"]:
        sudo(lab, host, "systemctl restart goalgpt-web.service")


def test_the_monitor_firing_during_the_watch_puts_every_host_back(
    deployed: str, lab: Lab, strict_thresholds_on_app_1: str, web_metrics_reset_after: None
):
    old, new = deployed, str(int(deployed) + RAISE_BY)
    hosts, workers = lab.groups["app"], lab.groups["workers"]
    before = {host: main_pids(lab, host) for host in app_and_worker_hosts(lab)}
    urls = [url(lab, host, "") for host in lab.groups["app"]]

    with cache_missing_traffic(urls):
        run = raise_pool(
            lab,
            new,
            "-e",
            f"raise_pool_thresholds={strict_thresholds_on_app_1}",
            # Two hosts at a time: what is tested is the put-back, and it saves a minute.
            "-e",
            "raise_pool_serial=2",
            "-e",
            "raise_pool_watch_s=20",
            "-e",
            "raise_pool_watch_interval_s=2",
        )

    assert run.returncode != 0, run.tail()
    expected = f"Rolled back DB_MAX_CONNECTIONS={new}: the monitor fired during the watch window"
    assert expected in run.output, run.tail()
    assert "Put back: " + ", ".join(f"{host} to {old}" for host in hosts) + "." in run.output
    for host in hosts:
        assert env_value(lab, host) == old, host
        assert set(process_env(lab, host).values()) == {old}, host
        after = main_pids(lab, host)
        assert after.keys() == before[host].keys(), (host, after)
        restarted = [unit for unit, pid in after.items() if pid != before[host][unit]]
        assert restarted == list(after), f"{host}: not restarted on {old}: {after}"
    for host in workers:
        assert env_value(lab, host) == old, host
        assert main_pids(lab, host) == before[host], f"{host} was touched"
