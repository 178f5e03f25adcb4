"""The worker command line is defined once: the role runs it and docs/jobs.md shows it."""

from __future__ import annotations

import shlex
import subprocess
import sys

import yaml

from app import config
from app.jobs import worker_command
from tests.support.paths import REPO


def test_the_docs_show_exactly_the_command_the_module_defines():
    printed = subprocess.run(
        [sys.executable, str(REPO / "app/jobs/worker_command.py")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()

    assert printed == shlex.join(worker_command.service_argv())
    assert printed in (REPO / "docs" / "jobs.md").read_text().splitlines()


def test_the_role_runs_the_command_the_module_prints():
    role_vars = yaml.safe_load((REPO / "roles/goalgpt_workers/vars/main.yml").read_text())
    command = role_vars["__goalgpt_workers_command"]

    assert "app/jobs/worker_command.py" in command
    assert "--worker-class" not in command  # no second definition of the flags


def test_the_flags_find_an_abandoned_job_within_a_minute():
    grace_s = config.Settings.model_fields["WORKER_HEARTBEAT_GRACE_S"].default
    idle_maintenance_s = max(
        worker_command.MAINTENANCE_INTERVAL_S, worker_command.WORKER_TTL_S - 15
    )
    assert worker_command.JOB_MONITORING_INTERVAL_S + grace_s + idle_maintenance_s < 60
