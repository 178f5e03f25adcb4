"""The Prometheus configuration the role renders, for a real inventory, passes
`promtool check config` (with its rules and file_sd targets), and scrapes what
the inventory says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from checks import alert_rules, thresholds
from tests.support.paths import REPO
from tests.support.processes import run_module

pytestmark = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool missing: run `make servers`"
)

RENDER = """
- name: Render the monitoring host's Prometheus files, as roles/prometheus does
  hosts: monitoring
  gather_facts: false
  vars_files:
    - {repo}/roles/prometheus/defaults/main.yml
  vars:
    # Rendered on this machine (delegate_to), as if on the monitoring host itself.
    goalgpt_service_address: "{{{{ inventory_hostname }}}}"
  tasks:
    - name: Write the targets
      ansible.builtin.copy:
        content: "{{{{ item.value | to_nice_json }}}}"
        dest: "{out}/targets/{{{{ item.key }}}}.json"
        mode: "0644"
      loop: "{{{{ lookup('ansible.builtin.template', targets) | from_json | dict2items }}}}"
      vars:
        targets: {repo}/roles/prometheus/templates/targets.json.j2
      delegate_to: localhost
    - name: Write prometheus.yml
      ansible.builtin.template:
        src: {repo}/roles/prometheus/templates/prometheus.yml.j2
        dest: "{out}/prometheus.yml"
        mode: "0644"
      delegate_to: localhost
"""


def render(inventory: Path, out: Path) -> dict[str, list[dict]]:
    """prometheus.yml and the targets under `out`; returns the targets by job."""
    for sub in ("rules", "targets"):
        (out / sub).mkdir(parents=True)
    rules = run_module(
        "checks.alert_rules", "--output", str(out / "rules" / "goalgpt.yml"), check=True
    )
    assert rules.returncode == 0
    # The playbooks' group_vars (goalgpt_service_address...) as for playbooks/deploy.yml.
    (out / "group_vars").symlink_to(REPO / "playbooks" / "group_vars")
    playbook = out / "render.yml"
    playbook.write_text(RENDER.format(repo=REPO, out=out))
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            str(playbook),
            "-i",
            str(inventory),
            "-e",
            f"prometheus_conf_dir={out}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"ANSIBLE_NOCOLOR": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    return {p.stem: json.loads(p.read_text()) for p in (out / "targets").glob("*.json")}


def check_config(out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", "check", "config", str(out / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_example_fleet_config_passes_promtool_and_scrapes_every_host(tmp_path):
    targets = render(REPO / "inventory" / "example" / "hosts.yml", tmp_path)

    done = check_config(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules.alert_names(thresholds.load()))} rules found" in done.stdout
    flat = {
        job: sorted(t for entry in entries for t in entry["targets"])
        for job, entries in targets.items()
    }
    assert flat == {
        "goalgpt": ["app-1.example.internal:8000", "app-2.example.internal:8000"],
        "postgres": ["db-1.example.internal:9187"],
        "pgbouncer": ["db-1.example.internal:9127"],
        "redis": ["redis-1.example.internal:9121", "redis-1.example.internal:9122"],
        "backup": ["mon-1.example.internal:9854"],
    }
    config = yaml.safe_load((tmp_path / "prometheus.yml").read_text())
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "mon-1.example.internal:9093"
    ]


def test_local_config_passes_promtool_on_loopback_and_a_broken_one_fails(tmp_path):
    targets = render(REPO / "inventory" / "local" / "hosts.yml", tmp_path)

    done = check_config(tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    addresses = {
        t.split(":")[0] for entries in targets.values() for e in entries for t in e["targets"]
    }
    assert addresses == {"127.0.0.1"}
    config = tmp_path / "prometheus.yml"
    config.write_text(config.read_text().replace("scrape_interval:", "scrape_intervall:"))
    assert check_config(tmp_path).returncode != 0
