"""The lab's network on the box: a bridge with the gateway address, and the proxy on it.

There is no NAT and no IP forwarding, and the hosts get no default route: the only
way out of the lab is tinyproxy on the bridge address, which serves the lab subnet
only and only the package registries in REGISTRIES.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from tests.lab.config import PROXY_PORT, LabConfig, LabError
from tests.lab.procs import find_processes
from tests.lab.shell import sh

# Hosts the proxy lets lab hosts reach (anchored regular expressions on the host name).
REGISTRIES = (
    r"^deb\.debian\.org$",
    r"^security\.debian\.org$",
    r"^pypi\.org$",
    r"^files\.pythonhosted\.org$",
)


def bridge_exists(config: LabConfig) -> bool:
    return Path("/sys/class/net", config.bridge).exists()


def create_bridge(config: LabConfig) -> None:
    prefix = config.network.prefixlen
    sh(["ip", "link", "add", config.bridge, "type", "bridge"])
    sh(["ip", "addr", "add", f"{config.gateway}/{prefix}", "dev", config.bridge])
    sh(["ip", "link", "set", config.bridge, "up"])


def delete_bridge(config: LabConfig) -> None:
    if bridge_exists(config):
        # A stopped host's veth lives on until the kernel has torn its namespace down
        # (seconds later); a host booted meanwhile would find the name taken.
        for port in bridge_ports(config):
            sh(["ip", "link", "del", port], check=False)
        sh(["ip", "link", "del", config.bridge])


def bridge_ports(config: LabConfig) -> list[str]:
    """The interfaces enslaved to the lab's bridge (the hosts' veths)."""
    ports = Path("/sys/class/net", config.bridge, "brif")
    return sorted(port.name for port in ports.iterdir()) if ports.is_dir() else []


def _proxy_dir(config: LabConfig) -> Path:
    return config.state_dir / "proxy"


def _proxy_conf(config: LabConfig) -> Path:
    return _proxy_dir(config) / "tinyproxy.conf"


def start_proxy(config: LabConfig) -> None:
    directory = _proxy_dir(config)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "registries").write_text("\n".join(REGISTRIES) + "\n")
    _proxy_conf(config).write_text(_tinyproxy_conf(config, directory))
    log = (directory / "tinyproxy.out").open("w")
    # -d: stay in the foreground of its own session; the lab, not tinyproxy, owns the pid.
    process = subprocess.Popen(
        ["setsid", "-f", "tinyproxy", "-d", "-c", str(_proxy_conf(config))],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    process.wait()
    _wait_for_proxy(config)


def _tinyproxy_conf(config: LabConfig, directory: Path) -> str:
    return f"""\
# Written by tests/lab/network.py for lab {config.lab_id}; removed by `make lab-down`.
User nobody
Group nogroup
Port {PROXY_PORT}
Listen {config.gateway}
Timeout 600
MaxClients 200
LogLevel Notice
Allow {config.network}
ConnectPort 443
Filter "{directory / "registries"}"
FilterURLs Off
FilterDefaultDeny Yes
DisableViaHeader Yes
"""


def _wait_for_proxy(config: LabConfig, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proxy_pids(config) and _listening(config.gateway, PROXY_PORT):
            return
        time.sleep(0.1)
    log = (_proxy_dir(config) / "tinyproxy.out").read_text().strip().splitlines()[-1:]
    raise LabError(f"tinyproxy did not start on {config.gateway}:{PROXY_PORT}: {log}")


def _listening(address: str, port: int) -> bool:
    out = sh(["ss", "-Hltn", f"src {address}:{port}"], check=False)
    return bool(out.strip())


def proxy_pids(config: LabConfig) -> list[int]:
    conf = str(_proxy_conf(config))
    return [p.pid for p in find_processes() if p.argv[:1] == ["tinyproxy"] and conf in p.argv]


def stop_proxy(config: LabConfig) -> None:
    for pid in proxy_pids(config):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
