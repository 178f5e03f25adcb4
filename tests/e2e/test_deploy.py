"""End to end on this machine: deploy from nothing, testinfra, the smoke gate, a second
deploy that changes nothing. The tests share one deployment and run in file order."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.deployment import FULL_CONVERGE, Deployment, PlaybookRun
from tests.support.processes import run_module

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def pytest_run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """pytest in a child process, with this venv's tools (ansible-inventory) on PATH."""
    env = dict(env or os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return run_module("pytest", "-q", "-p", "no:cacheprovider", *args, env=env, timeout=600)


def test_deploy_from_nothing_succeeds(first_deploy: PlaybookRun):
    assert first_deploy.returncode == 0, first_deploy.tail()
    assert first_deploy.failed() == {"localhost": 0}


def test_testinfra_suite_passes_against_the_deployment(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    done = pytest_run(
        "tests/deployed",
        "--hosts=ansible://app",
        f"--ansible-inventory={deployment.inventory}",
    )
    assert done.returncode == 0, done.stdout[-4000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-2000:]


def test_smoke_gate_passes_against_the_deployment(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    service = deployment.env()
    env = os.environ | {
        "GOALGPT_BASE_URL": deployment.base_url,
        "DATABASE_URL": service["DATABASE_URL"],
        "GOALGPT_MONITOR_DSN": deployment.checks_env()["GOALGPT_MONITOR_DSN"],
    }
    done = pytest_run("checks/", env=env)
    assert done.returncode == 0, done.stdout[-4000:]


def test_second_deploy_changes_nothing(second_deploy: PlaybookRun):
    assert second_deploy.returncode == 0, second_deploy.tail()
    assert second_deploy.changed() == {"localhost": 0}, second_deploy.changed_tasks()


def test_check_mode_with_diff_runs_clean(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    checked = deployment.playbook("deploy.yml", "--check", "--diff", *FULL_CONVERGE)
    assert checked.returncode == 0, checked.tail()
    assert checked.changed() == {"localhost": 0}, checked.changed_tasks()
    for name in ("db_app", "db_owner", "db_monitor", "redis_cache", "redis_queue"):
        assert deployment.secret(name) not in checked.output, name


def test_a_deploy_with_nothing_changed_runs_only_the_build_and_the_smoke_gate(
    second_deploy: PlaybookRun, deployment: Deployment
):
    assert second_deploy.returncode == 0, second_deploy.tail()
    again = deployment.playbook("deploy.yml")
    assert again.returncode == 0, again.tail()
    assert again.changed() == {"localhost": 0}, again.changed_tasks()
    assert "Every host is as the last deploy left it" in again.output, again.tail()
    assert "TASK [Run the smoke gate (pytest checks/) against every app host]" in again.output
    assert "TASK [postgresql" not in again.output and "TASK [goalgpt_app" not in again.output


def test_a_file_changed_by_hand_gets_a_full_converge_that_puts_it_back(
    second_deploy: PlaybookRun, deployment: Deployment
):
    assert second_deploy.returncode == 0, second_deploy.tail()
    env_file = deployment.root / "etc" / "goalgpt" / "goalgpt.env"
    written = env_file.read_text()
    env_file.write_text(written + "EDITED_BY_HAND=1\n")

    again = deployment.playbook("deploy.yml")

    assert again.returncode == 0, again.tail()
    why = f"Every play runs for every host: localhost: {deployment.root}/etc changed"
    assert why in again.output, again.tail()
    assert env_file.read_text() == written
