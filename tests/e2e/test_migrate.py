"""playbooks/migrate.yml on its own against the e2e deployment: it finds the deployed
runtime on the first app host and migrates the database the service environment
names, whatever the controller's $DATABASE_URL says. Runs after test_deploy.py."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.deployment import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BOGUS_URL = "postgresql://nobody:wrong@127.0.0.1:1/nothing"


def service_cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    """python -m app.migrations with the deployed runtime and service environment."""
    return subprocess.run(
        [
            str(deployment.root / "opt/goalgpt/bin/goalgpt-env"),
            str(deployment.venv / "bin/python"),
            "-m",
            "app.migrations",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_on_its_own_uses_the_deployed_service_environment(
    first_deploy, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
):
    assert first_deploy.returncode == 0
    rolled_back = service_cli(deployment, "rollback", "--to", "0002_half_stats_columns")
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert service_cli(deployment, "status").returncode == 1  # 0003 pending
    monkeypatch.setenv("DATABASE_URL", BOGUS_URL)  # must not be used: a deployment exists

    first = deployment.playbook("migrate.yml")
    second = deployment.playbook("migrate.yml")

    assert first.returncode == 0, first.tail()
    assert "the service environment deployed on localhost" in first.output
    assert "applied 0003_half_stats_index" in first.output
    assert first.changed() == {"localhost": 1}
    assert service_cli(deployment, "verify").returncode == 0
    assert second.returncode == 0, second.tail()
    assert second.changed() == {"localhost": 0}
    password = deployment.env()["DATABASE_URL"].split(":")[2].split("@")[0]
    assert password not in first.output + second.output
