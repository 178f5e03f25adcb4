"""playbooks/migrate.yml on its own against the e2e deployment: it finds the deployed
release on the first app host and migrates the deployment's database as the schema
owner, whatever the controller's $DATABASE_URL says. Runs after test_deploy.py."""

from __future__ import annotations

import subprocess

import pytest

from tests.support.deployment import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BOGUS_URL = "postgresql://nobody:wrong@127.0.0.1:1/nothing"


def owner_cli(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    """python -m app.migrations of the deployed release, as the schema owner."""
    return subprocess.run(
        [str(deployment.venv / "bin/python"), "-m", "app.migrations", *args, "--dsn", "-"],
        input=deployment.role_url("owner") + "\n",
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_migrate_on_its_own_uses_the_deployed_service_environment(
    first_deploy, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
):
    assert first_deploy.returncode == 0
    rolled_back = owner_cli(deployment, "rollback", "--to", "0002_half_stats_columns")
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert owner_cli(deployment, "status").returncode == 1  # 0003 pending
    monkeypatch.setenv("DATABASE_URL", BOGUS_URL)  # must not be used: a deployment exists

    first = deployment.playbook("migrate.yml")
    second = deployment.playbook("migrate.yml")

    assert first.returncode == 0, first.tail()
    assert "the deployment on localhost, as the schema owner" in first.output
    assert "applied 0003_half_stats_index" in first.output
    assert first.changed() == {"localhost": 1}
    assert owner_cli(deployment, "verify").returncode == 0
    assert second.returncode == 0, second.tail()
    assert second.changed() == {"localhost": 0}
    assert deployment.secret("db_owner") not in first.output + second.output
