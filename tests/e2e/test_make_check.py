"""On the deployed host, with nothing exported: the smoke gate finds its deployment
(playbooks/check.yml, `make check`), and the monitor run through the service
environment reads every metric, or ends with exit 2 naming what it could not read."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support.deployment import Deployment, PlaybookRun

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTHING_EXPORTED = ("DATABASE_URL", "GOALGPT_BASE_URL", "GOALGPT_MONITOR_DSN", "REDIS_URL")


def monitor_through_service_env(deployment: Deployment) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in NOTHING_EXPORTED}
    return subprocess.run(
        [
            str(deployment.root / "opt/goalgpt/bin/goalgpt-env"),
            str(deployment.venv / "bin/python"),
            "-m",
            "checks.monitor",
            "--interval",
            "1",
            "--duration",
            "2",
            "--json",
        ],
        cwd=deployment.root / "opt/goalgpt/current",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_make_check_finds_the_deployment_with_nothing_exported(
    first_deploy: PlaybookRun, deployment: Deployment, monkeypatch
):
    assert first_deploy.returncode == 0
    for name in NOTHING_EXPORTED:
        monkeypatch.delenv(name, raising=False)
    run = deployment.playbook("check.yml")
    assert run.returncode == 0, run.tail()
    assert " passed" in run.output
    assert run.changed() == {"localhost": 0}


def test_the_monitor_through_the_service_environment_reads_every_metric(
    first_deploy: PlaybookRun, deployment: Deployment
):
    assert first_deploy.returncode == 0
    done = monitor_through_service_env(deployment)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["unread_sources"] == []
    assert summary["not_monitored"] == []
    assert summary["metrics"]["pool_waiting"]["samples"] >= 1
    assert summary["metrics"]["db_active_connections"]["samples"] >= 1


def test_with_the_app_stopped_the_monitor_exits_2_naming_what_it_could_not_read(
    first_deploy: PlaybookRun, deployment: Deployment
):
    assert first_deploy.returncode == 0
    stopped = deployment.supervisorctl("stop", "goalgpt-web")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    try:
        done = monitor_through_service_env(deployment)
    finally:
        started = deployment.supervisorctl("start", "goalgpt-web")
    assert started.returncode == 0, started.stdout + started.stderr
    assert done.returncode == 2
    url = f"{deployment.base_url}/metrics"
    assert done.stderr == f"monitor failed: never read: {url}\n"
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["unread_sources"] == [url]
