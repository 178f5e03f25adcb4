"""The lab itself: real systemd hosts, reached over SSH, fenced off from everything but
the proxy, surviving reboots, and gone without a trace after `down`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.lab import Lab, LabError
from tests.lab.config import HOSTS
from tests.lab.procs import find_processes, kill_all
from tests.support.processes import run_module

pytestmark = pytest.mark.lab

CONNECT = """\
import socket, sys
sock = socket.socket()
sock.settimeout(3)
try:
    sock.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except OSError as error:
    print(error.strerror)
"""

FETCH = """\
import os, ssl, sys, urllib.request
os.environ.update(line.split("=", 1) for line in open("/etc/environment").read().split())
ctx = ssl.create_default_context(cafile="/etc/ssl/certs/ca-certificates.crt")
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=30, context=ctx).status)
except OSError as error:
    print(getattr(error, "code", None) or error)
"""


def python_on(lab: Lab, host: str, script: str, *args: str) -> str:
    done = lab.run(host, ["python3", "-c", script, *args], timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_every_host_runs_systemd_as_pid_1_and_it_says_running(lab: Lab) -> None:
    for host in HOSTS:
        done = lab.run(host, "systemctl is-system-running; ps -o comm= -p 1")
        assert done.stdout.split() == ["running", "systemd"], (host, done.stdout, done.stderr)


def test_ansible_reaches_every_host_over_ssh_and_sees_systemd(lab: Lab) -> None:
    ansible = Path(sys.executable).with_name("ansible")
    done = subprocess.run(
        [
            str(ansible),
            "all",
            "-i",
            str(lab.inventory_path),
            "-m",
            "ansible.builtin.setup",
            "-a",
            "filter=ansible_service_mgr",
            "-o",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    managers = {
        line.split(" | ")[0]: json.loads(line.split(" => ", 1)[1])["ansible_facts"]
        for line in done.stdout.splitlines()
        if " | SUCCESS => " in line
    }
    assert managers == {host: {"ansible_service_mgr": "systemd"} for host in HOSTS}


def test_inventory_names_every_host_in_its_group_with_its_lab_address(lab: Lab) -> None:
    inventory = yaml.safe_load(lab.inventory_path.read_text())["all"]
    groups = {
        group: {host: spec["ansible_host"] for host, spec in body["hosts"].items()}
        for group, body in inventory["children"].items()
    }
    assert groups == {
        "app": {"app-1": lab.address("app-1"), "app-2": lab.address("app-2")},
        "workers": {"worker-1": lab.address("worker-1"), "worker-2": lab.address("worker-2")},
        "db": {"db-1": lab.address("db-1")},
        "pgbouncer": {"db-1": lab.address("db-1")},
        "redis": {"redis-1": lab.address("redis-1")},
        "monitoring": {"mon-1": lab.address("mon-1")},
        "backup": {"mon-1": lab.address("mon-1")},
    }
    key = Path(inventory["vars"]["ansible_ssh_private_key_file"])
    assert key.is_absolute() and key.stat().st_mode & 0o077 == 0


def test_each_host_has_its_own_identity_and_passwordless_sudo(lab: Lab) -> None:
    seen = {}
    for host in ("app-1", "app-2"):
        done = lab.run(host, "sudo -n cat /etc/machine-id /etc/ssh/ssh_host_ed25519_key.pub")
        assert done.returncode == 0, done.stderr
        seen[host] = done.stdout
    assert seen["app-1"] != seen["app-2"]


def test_hosts_reach_each_other_over_the_bridge(lab: Lab) -> None:
    # Once the fleet is deployed its firewall drops SSH between hosts: the target's
    # answer to ARP shows the bridge carries the packets whatever the firewall allows.
    for target in ("db-1", "redis-1", "worker-2"):
        address = lab.address(target)
        python_on(lab, "app-1", CONNECT, address, "22")  # connected, or dropped by the firewall
        neighbour = lab.run("app-1", f"ip neigh show {address}").stdout
        assert "lladdr" in neighbour, (target, neighbour)


def test_a_host_has_no_route_out_of_the_lab(lab: Lab) -> None:
    routes = lab.run("worker-1", "ip -4 route").stdout
    assert "default" not in routes
    # No route: the kernel refuses at once, nothing is sent anywhere.
    for address, port in (("192.0.2.1", "80"), ("192.0.2.2", "22"), ("1.1.1.1", "443")):
        assert python_on(lab, "worker-1", CONNECT, address, port) == "Network is unreachable"


def test_the_proxy_refuses_anything_but_the_package_registries(lab: Lab) -> None:
    # Refused by the proxy's filter before it connects anywhere.
    assert python_on(lab, "app-2", FETCH, "http://192.0.2.1/") == "403"


def test_the_proxy_serves_pypi_over_tls_with_the_boxs_ca_bundle(lab: Lab) -> None:
    assert python_on(lab, "app-2", FETCH, "https://pypi.org/simple/rq/") == "200"


def test_http_between_lab_hosts_bypasses_the_proxy(lab: Lab) -> None:
    server = f"timeout 30 python3 -m http.server 8765 --bind {lab.address('app-2')}"
    lab.run("app-2", f"nohup {server} >/dev/null 2>&1 &")
    url = f"http://{lab.address('app-2')}:8765/"
    # With the proxy variables of /etc/environment set, as for any login.
    for _ in range(20):
        answer = python_on(lab, "app-1", FETCH, url)
        if answer == "200":
            break
        time.sleep(0.5)
    assert answer == "200"


def test_apt_get_update_works_through_the_proxy(lab: Lab) -> None:
    done = lab.run("mon-1", "sudo apt-get update -q", timeout=300)
    assert done.returncode == 0, done.stdout[-500:] + done.stderr[-500:]
    assert "deb.debian.org" in done.stdout


def test_tls_through_the_proxy_still_works_after_a_role_installs_ca_certificates(
    lab: Lab,
) -> None:
    # python3-pip pulls in ca-certificates, whose update-ca-certificates rewrites the
    # bundle: the box's certificates must survive it.
    install = "sudo apt-get update -qq && sudo apt-get install -y -qq ca-certificates"
    done = lab.run("mon-1", f"{install} >/dev/null", timeout=300)
    assert done.returncode == 0, done.stderr[-500:]
    assert python_on(lab, "mon-1", FETCH, "https://pypi.org/simple/rq/") == "200"


def test_a_reboot_inside_a_host_brings_it_back_running(lab: Lab) -> None:
    host = lab.hosts["worker-2"]
    before = host.init_pid()
    try:
        lab.reboot("worker-2")
        assert host.init_pid() not in (None, before)
        assert "nspawn ended with status 133" in (host.dir / "console.log").read_text()
        assert lab.run("worker-2", "systemctl is-system-running").stdout.strip() == "running"
    finally:
        lab.restore("worker-2")


def test_a_stopped_host_stays_down_until_started(lab: Lab) -> None:
    try:
        lab.stop("mon-1")
        assert lab.status()["mon-1"]["state"] == "stopped"
        assert lab.run("mon-1", "true", timeout=30).returncode == 255  # ssh: no connection
        lab.start("mon-1")
        assert lab.status()["mon-1"]["state"] == "running"
        assert lab.run("mon-1", "true").returncode == 0
    finally:
        lab.restore("mon-1")


def test_up_on_a_lab_with_a_stopped_host_starts_only_that_host(lab: Lab) -> None:
    others = {name: host.init_pid() for name, host in lab.hosts.items() if name != "mon-1"}
    try:
        lab.stop("mon-1")
        lab.up()
        assert lab.status()["mon-1"]["state"] == "running"
        assert {name: lab.hosts[name].init_pid() for name in others} == others
    finally:
        lab.restore("mon-1")


def test_a_second_lab_id_refuses_a_build_dir_in_use(lab: Lab) -> None:
    other = Lab(lab_id=(lab.config.lab_id + 5) % 10, build_dir=lab.config.build_dir)
    with pytest.raises(LabError, match="belongs to lab"):
        other.up()
    assert lab.inventory_path.exists()


def scratch_lab(lab: Lab, build_dir: Path) -> Lab:
    """A one-host lab beside the main one: its own id, so tearing it down is safe."""
    return Lab(lab_id=(lab.config.lab_id + 5) % 10, hosts=["db-1"], build_dir=build_dir)


def traces(scratch: Lab) -> list[str]:
    """Everything of the scratch lab the box still shows, looked up independently."""
    name = scratch.config.name
    found = [f"process {p.pid}" for p in find_processes() if any(name in arg for arg in p.argv)]
    mounts = Path("/proc/mounts").read_text()
    found += [line for line in mounts.splitlines() if str(scratch.config.state_dir) in line]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    found += [line for line in links.splitlines() if scratch.config.bridge in line]
    found += [str(d) for d in (scratch.config.state_dir, scratch.config.build_dir) if d.exists()]
    return found


def test_down_leaves_nothing_even_after_a_killed_run(lab: Lab, tmp_path: Path) -> None:
    scratch = scratch_lab(lab, tmp_path / "lab")
    try:
        scratch.up()
        host = scratch.hosts["db-1"]
        # A run killed with SIGKILL: supervisor and nspawn die, the container and
        # its overlay, bridge and proxy stay behind.
        kill_all(host.supervisor_pids() + host.nspawn_pids(), signal.SIGKILL)
        scratch.up()  # finds and removes those leftovers, then boots afresh
        assert scratch.run("db-1", "systemctl is-system-running").stdout.strip() == "running"
    finally:
        scratch.down()
    assert scratch.leftovers() == []
    assert traces(scratch) == []


def test_the_cli_reports_status_and_refuses_an_unknown_host(lab: Lab) -> None:
    env = {**os.environ, "GOALGPT_LAB_ID": str(lab.config.lab_id)}
    status = run_module("tests.lab", "status", "--json", env=env, check=False)
    assert status.returncode == 0, status.stderr
    assert {h["state"] for h in json.loads(status.stdout).values()} == {"running"}
    bad = run_module("tests.lab", "reboot", "web-9", env=env, check=False)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
