"""The lab's SSH key and the Ansible inventory that reaches its hosts over real SSH."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from pathlib import Path

import yaml

from tests.lab.config import LabConfig
from tests.lab.shell import sh

SSH_OPTIONS = ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null")
USER = "deploy"


def ensure_key(config: LabConfig) -> str:
    """The lab's public key, generating the key pair (mode 0600) on first use."""
    config.build_dir.mkdir(parents=True, exist_ok=True)
    key = config.key_path
    if not key.exists():
        comment = f"{config.name}@{config.build_dir}"
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key)])
    key.chmod(0o600)
    return key.with_suffix(".pub").read_text()


def write_owner(config: LabConfig) -> None:
    """Mark the build dir as this lab's, so another lab id never takes it over."""
    (config.build_dir / "lab-id").write_text(f"{config.lab_id}\n")


def read_owner(build_dir: Path) -> int | None:
    try:
        return int((build_dir / "lab-id").read_text())
    except (OSError, ValueError):
        return None


# Groups a host is in besides its own: PgBouncer runs on the database host.
EXTRA_GROUPS = {"pgbouncer": ("db-1",)}


def write_inventory(config: LabConfig) -> None:
    groups: dict[str, dict] = {}
    for host in config.hosts:
        group = groups.setdefault(config.group(host), {"hosts": {}})
        group["hosts"][host] = {"ansible_host": config.address(host)}
    for name, members in EXTRA_GROUPS.items():
        present = [host for host in members if host in config.hosts]
        if present:
            groups[name] = {"hosts": dict.fromkeys(present)}
    inventory = {
        "all": {
            "vars": {
                "ansible_user": USER,
                "ansible_ssh_private_key_file": str(config.key_path.resolve()),
                "ansible_ssh_common_args": " ".join(SSH_OPTIONS),
                "ansible_python_interpreter": "/usr/bin/python3",
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
        *SSH_OPTIONS,
        "-o",
        "LogLevel=ERROR",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=5",
        f"{USER}@{config.address(host)}",
    ]
