"""raise_pool.yml on the lab's fleet (issue 12, item 2): a web unit that will not
restart on app-2 puts app-1 and app-2 back, and a trigger during the watch puts
every app and worker host back, processes restarted on the old value.

The fleet is first lowered to OLD with raise_pool itself (a lowering always passes
the gate), so that NEW is within any recommendation of the probe."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests.lab import Lab
from tests.support.deployment import REPO, PlaybookRun

pytestmark = [pytest.mark.lab, pytest.mark.slow]

OLD, NEW = "3", "4"
SHORT_WATCH = ("-e", "raise_pool_watch_s=8", "-e", "raise_pool_watch_interval_s=2")
DROP_IN = "/etc/systemd/system/goalgpt-web.service.d/zz-test-refuse-restart.conf"
STRICT_THRESHOLDS = "/tmp/raise-pool-strict-thresholds.yml"
# Every running goalgpt unit's processes, one line each: unit pid DB_MAX_CONNECTIONS.
PROCESS_VALUES = r"""
for unit in $(systemctl list-units 'goalgpt-*' --type=service --state=running --plain --no-legend \
              | awk '{print $1}'); do
  cgroup=$(systemctl show -p ControlGroup --value "$unit")
  # cgroup v2, or v1 (the lab's hosts) with systemd's own hierarchy
  for procs in "/sys/fs/cgroup$cgroup/cgroup.procs" "/sys/fs/cgroup/systemd$cgroup/cgroup.procs"; do
    [ -r "$procs" ] && break
  done
  for pid in $(cat "$procs"); do
    value=$(tr '\0' '\n' < "/proc/$pid/environ" | sed -n 's/^DB_MAX_CONNECTIONS=//p')
    echo "$unit $pid ${value:-unset}"
  done
done
"""


def playbook(lab: Lab, name: str, *args: str, timeout: float = 1800) -> PlaybookRun:
    """playbooks/<name> on the lab's inventory, with this venv's Ansible."""
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    done = subprocess.run(
        [str(ansible_playbook), f"playbooks/{name}", "-i", str(lab.inventory_path), *args],
        cwd=REPO,
        env=os.environ | {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return PlaybookRun(done.returncode, done.stdout)


def sudo(lab: Lab, host: str, script: str) -> str:
    done = lab.run(host, ["sudo", "sh", "-c", script], timeout=120)
    assert done.returncode == 0, f"{host}: {done.stderr}"
    return done.stdout


def env_value(lab: Lab, host: str) -> str:
    line = sudo(lab, host, "grep ^DB_MAX_CONNECTIONS= /etc/goalgpt/goalgpt.env")
    return line.strip().split("=", 1)[1].strip('"')


def processes(lab: Lab, host: str) -> dict[int, str]:
    """pid -> DB_MAX_CONNECTIONS in its environment, for every goalgpt process on host."""
    lines = sudo(lab, host, PROCESS_VALUES).split("\n")
    return {int(pid): value for _, pid, value in (line.split() for line in lines if line)}


def app_and_worker_hosts(lab: Lab) -> list[str]:
    return lab.groups["app"] + lab.groups["workers"]


@pytest.fixture(scope="module")
def fleet_on_old_value(lab: Lab) -> Lab:
    """The fleet deployed onto the lab, every host's pool at OLD."""
    deployed = playbook(lab, "deploy.yml")
    assert deployed.returncode == 0, deployed.tail()
    lowered = playbook(lab, "raise_pool.yml", "-e", f"db_max_connections={OLD}", *SHORT_WATCH)
    assert lowered.returncode == 0, lowered.tail()
    return lab


@pytest.fixture
def web_refuses_restart_on_app_2(fleet_on_old_value: Lab) -> Iterator[None]:
    """A systemd drop-in that makes goalgpt-web on app-2 fail to start; removed after,
    and the unit started again on the env file's value."""
    lab = fleet_on_old_value
    refuse = "[Service]\\nExecStartPre=/bin/false\\n"
    sudo(lab, "app-2", f"mkdir -p {DROP_IN.rsplit('/', 1)[0]} && printf '{refuse}' > {DROP_IN}")
    sudo(lab, "app-2", "systemctl daemon-reload")
    try:
        yield
    finally:
        sudo(lab, "app-2", f"rm -f {DROP_IN} && systemctl daemon-reload")
        sudo(lab, "app-2", "systemctl restart goalgpt-web")


def test_a_web_unit_that_fails_on_restart_puts_app_1_and_app_2_back(
    fleet_on_old_value: Lab, web_refuses_restart_on_app_2: None
):
    lab = fleet_on_old_value
    workers_before = {host: processes(lab, host) for host in lab.groups["workers"]}

    run = playbook(
        lab,
        "raise_pool.yml",
        "-e",
        f"db_max_connections={NEW}",
        "-e",
        "goalgpt_app_ready_retries=10",
        *SHORT_WATCH,
    )

    assert run.returncode != 0
    assert f"Rolled back DB_MAX_CONNECTIONS={NEW}: app-2 failed at" in run.output, run.tail()
    assert f"Put back: app-1 to {OLD}, app-2 to {OLD}" in run.output
    assert "Not changed: worker-1, worker-2." in run.output
    assert env_value(lab, "app-1") == env_value(lab, "app-2") == OLD
    assert set(processes(lab, "app-1").values()) == {OLD}
    for host, before in workers_before.items():
        assert env_value(lab, host) == OLD
        assert processes(lab, host) == before  # never touched


@contextmanager
def cache_missing_traffic(urls: list[str]) -> Iterator[None]:
    """Requests to every app host that each miss the cache, until the block ends."""
    stop = threading.Event()

    def send(base: str) -> None:
        user_id = 1
        while not stop.is_set():
            user_id += 1
            try:
                urllib.request.urlopen(
                    f"{base}/api/predictions/matched?user_id={user_id}", timeout=5
                ).read()
            except OSError:
                time.sleep(0.2)  # a host restarts during the rolling step
            time.sleep(0.05)

    threads = [threading.Thread(target=send, args=(url,), daemon=True) for url in urls]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


@pytest.fixture
def strict_thresholds_on_app_1(fleet_on_old_value: Lab) -> str:
    """checks/thresholds.yml with a cache-hit-rate trigger that misses always breach,
    on the host that runs the probe and the monitor."""
    data = yaml.safe_load((REPO / "checks" / "thresholds.yml").read_text())
    data["monitor"]["cache_hit_rate"].update(
        target_above_pct=99.5, trigger_below_pct=99, window_s=30, min_requests=5
    )
    text = yaml.safe_dump(data)
    sudo(fleet_on_old_value, "app-1", f"cat > {STRICT_THRESHOLDS} <<'EOF'\n{text}EOF\n")
    return STRICT_THRESHOLDS


def test_a_trigger_during_the_watch_puts_every_host_back(
    fleet_on_old_value: Lab, strict_thresholds_on_app_1: str
):
    lab = fleet_on_old_value
    hosts = app_and_worker_hosts(lab)
    pids_before = {host: set(processes(lab, host)) for host in hosts}
    urls = [f"http://{lab.address(host)}:8000" for host in lab.groups["app"]]

    with cache_missing_traffic(urls):
        run = playbook(
            lab,
            "raise_pool.yml",
            "-e",
            f"db_max_connections={NEW}",
            "-e",
            f"raise_pool_thresholds={strict_thresholds_on_app_1}",
            "-e",
            "raise_pool_watch_s=15",
            "-e",
            "raise_pool_watch_interval_s=3",
        )

    assert run.returncode != 0
    expected = f"Rolled back DB_MAX_CONNECTIONS={NEW}: the monitor fired during the watch window"
    assert expected in run.output, run.tail()
    assert "Put back: " + ", ".join(f"{host} to {OLD}" for host in hosts) + "." in run.output
    for host in hosts:
        assert env_value(lab, host) == OLD, host
        after = processes(lab, host)
        assert set(after.values()) == {OLD}, host
        assert not set(after) & pids_before[host], f"{host}: not restarted"
