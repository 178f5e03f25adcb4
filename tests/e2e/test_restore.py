"""Backups on one host (inventory/local's layout: the repository a local path on the db
host): the deploy's full backup listed by `pgbackrest info`, backup.yml's, restore.yml's
refusal to overwrite the running cluster, and a point-in-time restore with it.

Runs last on the deployment (after test_releases.py) and leaves it restored and healthy.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support.deployment import Deployment
from tests.support.gunicorn import get

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DRILL_DB = "restore_drill"


def psql(deployment: Deployment, sql: str, dbname: str = DRILL_DB) -> str:
    """sql as the postgres superuser over the cluster's socket (as the db host's docs do)."""
    done = subprocess.run(
        [
            "runuser", "-u", "postgres", "--", "psql", "--no-psqlrc", "-At",
            "-v", "ON_ERROR_STOP=1", "--host", "/var/run/postgresql",
            "--port", str(deployment.pg_port), "--dbname", dbname, "-c", sql,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def postmaster_started(deployment: Deployment) -> str:
    return psql(deployment, "SELECT pg_postmaster_start_time()", "postgres")


def test_the_deploy_took_a_full_backup_that_pgbackrest_info_lists(first_deploy, deployment):
    assert first_deploy.returncode == 0
    listed = deployment.pgbackrest("info")

    assert listed.returncode == 0, listed.stderr
    assert "status: ok" in listed.stdout, listed.stdout
    assert "full backup: " in listed.stdout, listed.stdout
    assert "cipher: aes-256-cbc" in listed.stdout, listed.stdout


def test_backup_yml_takes_a_backup_and_shows_the_repository(first_deploy, deployment):
    assert first_deploy.returncode == 0
    run = deployment.playbook("backup.yml")  # as the README shows it: the default type

    assert run.returncode == 0, run.tail()
    assert "diff backup: " in run.output, run.tail()


def test_restore_yml_refuses_to_overwrite_the_running_cluster_and_changes_nothing(
    first_deploy, deployment
):
    assert first_deploy.returncode == 0
    started = postmaster_started(deployment)
    services = deployment.service_pids()

    run = deployment.playbook("restore.yml")

    assert run.returncode != 0
    assert "it runs and answers" in run.output, run.tail()
    assert "add -e restore_overwrite=true" in run.output
    assert postmaster_started(deployment) == started
    assert deployment.service_pids() == services  # workers and rq cron never stopped


def test_a_point_in_time_restore_brings_back_what_was_committed_before_t_and_nothing_after(
    first_deploy, deployment
):
    assert first_deploy.returncode == 0
    psql(deployment, f"CREATE DATABASE {DRILL_DB}", "postgres")
    psql(deployment, "CREATE TABLE rows (id int PRIMARY KEY)")
    psql(deployment, "INSERT INTO rows SELECT generate_series(1, 50)")
    target = psql(deployment, "SELECT clock_timestamp()")  # after the first 50 committed
    psql(deployment, "INSERT INTO rows SELECT generate_series(51, 100)")
    checked = deployment.pgbackrest("check")  # every WAL up to here reaches the repository
    assert checked.returncode == 0, checked.stderr
    checks_env = deployment.checks_env_file.read_text()

    run = deployment.playbook(
        "restore.yml", "-e", f"restore_target='{target}'", "-e", "restore_overwrite=true"
    )

    assert run.returncode == 0, run.tail(120)
    # Password files only: the checks keep the fleet the deploy described for them.
    assert deployment.checks_env_file.read_text() == checks_env
    assert "GOALGPT_FLEET_FILE" in deployment.checks_env()
    assert psql(deployment, "SELECT min(id), max(id), count(*) FROM rows") == "1|50|50"
    assert get(f"{deployment.base_url}/readyz").status == 200
