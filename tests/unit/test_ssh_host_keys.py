"""SSH as in production (issue 23): nothing in the repository turns host key checking
off, and the lab's inventory checks every host against the keys recorded when its hosts
were made (a known_hosts of the lab's own that ssh itself can read)."""

from __future__ import annotations

import configparser
import re
import subprocess
from pathlib import Path

import yaml

from tests.lab.config import LabConfig
from tests.lab.inventory import ssh_argv, write_inventory, write_known_hosts

REPO = Path(__file__).resolve().parents[2]
TURNED_OFF = re.compile(
    r"host_key_checking\s*[=:]\s*(false|no|0)\b|StrictHostKeyChecking[= ]+(no|off|accept-new)",
    re.IGNORECASE,
)
WHERE = ("ansible.cfg", "Makefile", "inventory", "playbooks", "scripts", "tests/lab", ".ci")


def test_ansible_cfg_leaves_host_key_checking_on():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "ansible.cfg")
    assert cfg.get("defaults", "host_key_checking", fallback="True").lower() in ("true", "yes")


def test_nothing_in_the_repository_turns_host_key_checking_off():
    found = []
    for top in WHERE:
        root = REPO / top
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            text = path.read_text(errors="replace")
            found += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in TURNED_OFF.finditer(text)]
    assert not found, found


def test_the_labs_inventory_checks_each_host_against_its_recorded_keys(tmp_path):
    config = LabConfig(lab_id=7, build_dir=tmp_path)
    pair = tmp_path / "host_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(pair)], check=True)
    key = pair.with_suffix(".pub").read_text().strip()
    write_known_hosts(config, {"db-1": [key]})
    write_inventory(config)

    variables = yaml.safe_load(config.inventory_path.read_text())["all"]["vars"]
    options = variables["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=yes" in options
    assert f"UserKnownHostsFile={config.known_hosts_path.resolve()}" in options
    assert "StrictHostKeyChecking=yes" in ssh_argv(config, "db-1")
    # ssh's own reader finds the key under the host's address and its name.
    for name in (config.address("db-1"), "db-1"):
        found = subprocess.run(
            ["ssh-keygen", "-F", name, "-f", str(config.known_hosts_path)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert found.returncode == 0 and key.split()[1] in found.stdout, (name, found.stdout)
    assert (
        subprocess.run(
            ["ssh-keygen", "-F", "app-1", "-f", str(config.known_hosts_path)], check=False
        ).returncode
        != 0
    )
