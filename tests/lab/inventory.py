"""The lab's SSH key, its hosts' keys and the Ansible inventory that reaches them over
real SSH, checking each host's key as production does (known_hosts of the lab's own)."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

import yaml

from tests.lab.config import LabConfig
from tests.lab.shell import sh

USER = "deploy"


def ssh_options(config: LabConfig) -> tuple[str, ...]:
    """Strict host key checking against the keys recorded when the hosts were made."""
    known = config.known_hosts_path.resolve()
    return ("-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}")


def ensure_key(config: LabConfig) -> str:
    """The lab's public key, generating the key pair (mode 0600) on first use."""
    config.build_dir.mkdir(parents=True, exist_ok=True)
    key = config.key_path
    if not key.exists():
        comment = f"{config.name}@{config.build_dir}"
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])
    key.chmod(0o600)
    return key.with_suffix(".pub").read_text()


def write_known_hosts(config: LabConfig, host_keys: dict[str, list[str]]) -> None:
    """Record each host's public keys (host -> lines of its ssh_host_*_key.pub files)
    under its address and name: SSH then refuses a host that answers with another key."""
    lines = [
        f"{config.address(host)},{host} {' '.join(key.split()[:2])}"
        for host, keys in host_keys.items()
        for key in keys
    ]
    config.known_hosts_path.write_text("\n".join(lines) + "\n")


def write_owner(config: LabConfig) -> None:
    """Mark the build dir as this lab's, so another lab id never takes it over."""
    (config.build_dir / "lab-id").write_text(f"{config.lab_id}\n")


def read_owner(build_dir: Path) -> int | None:
    try:
        return int((build_dir / "lab-id").read_text())
    except (OSError, ValueError):
        return None


def write_inventory(config: LabConfig) -> None:
    """The inventory: the lab's hosts by group, SSH as production (strict host keys),
    and the box (the bridge address) as the controller and the web's only client, so
    the firewall lets in no one else."""
    groups: dict[str, dict] = {}
    for host in config.hosts:
        for name in config.groups_of(host):
            hosts = groups.setdefault(name, {"hosts": {}})["hosts"]
            hosts[host] = {"ansible_host": config.address(host)}
    inventory = {
        "all": {
            "vars": {
                "ansible_user": USER,
                "ansible_ssh_private_key_file": str(config.key_path.resolve()),
                "ansible_ssh_common_args": " ".join(ssh_options(config)),
                "ansible_python_interpreter": "/usr/bin/python3",
                "goalgpt_firewall_controller_networks": [f"{config.gateway}/32"],
                "goalgpt_firewall_client_networks": [f"{config.gateway}/32"],
                # The restore drill writes for longer than one archive_timeout (its RPO
                # bound): half of production's keeps that wait short.
                "postgresql_archive_timeout_s": 30,
            },
            "children": groups,
        }
    }
    header = (
        f"# Lab {config.lab_id}, written by `python -m tests.lab up`; "
        "removed by `make lab-down`.\n---\n"
    )
    config.inventory_path.write_text(header + yaml.safe_dump(inventory, sort_keys=False))


def ssh(
    config: LabConfig, host: str, command: str | Sequence[str], timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run command on host as the deploy user over SSH (a list is quoted for the shell)."""
    remote = command if isinstance(command, str) else shlex.join(command)
    return subprocess.run(
        [*ssh_argv(config, host), remote],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ssh_argv(config: LabConfig, host: str) -> list[str]:
    return [
        "ssh",
        "-i",
        str(config.key_path),
        *ssh_options(config),
        "-o",
        "LogLevel=ERROR",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        f"{USER}@{config.address(host)}",
    ]
