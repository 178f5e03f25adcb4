"""raise_pool.yml -e pgbouncer_pool_size=N against the e2e deployment, whose PgBouncer runs
under supervisord: a pool within both budgets is applied with a reload (the same
process; its console shows the new pool), one the database cannot take is refused
naming the server side and nothing changes. Runs on the session's deployment."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from tests.support.deployment import Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHORT_WATCH = ("-e", "raise_pool_watch_s=6", "-e", "raise_pool_watch_interval_s=2")
DEPLOYED = 20  # roles/pgbouncer's pgbouncer_default_pool_size


def ini(deployment: Deployment) -> Path:
    return deployment.root / "etc" / "pgbouncer" / "pgbouncer.ini"


def pool_in_ini(deployment: Deployment) -> int:
    return int(re.search(r"(?m)^default_pool_size = (\d+)$", ini(deployment).read_text())[1])


def pool_in_console(deployment: Deployment) -> int:
    """The pool PgBouncer runs with (SHOW DATABASES), asked as the checks ask it."""
    dsn = deployment.checks_env()["GOALGPT_PGBOUNCER_DSN"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute("SHOW DATABASES")
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    (app,) = [r for r in rows if r["name"] == "goalgpt"]
    return app["pool_size"]


def pgbouncer_pid(deployment: Deployment) -> str:
    return deployment.supervisorctl("pid", "goalgpt-pgbouncer").stdout.strip()


def test_a_pgbouncer_pool_within_both_budgets_is_applied_with_a_reload(first_deploy, deployment):
    assert first_deploy.returncode == 0, first_deploy.tail()
    before = pgbouncer_pid(deployment)

    raised = deployment.playbook("raise_pool.yml", "-e", "pgbouncer_pool_size=30", *SHORT_WATCH)
    applied = (pool_in_ini(deployment), pool_in_console(deployment), pgbouncer_pid(deployment))
    back = deployment.playbook(
        "raise_pool.yml", "-e", f"pgbouncer_pool_size={DEPLOYED}", *SHORT_WATCH
    )

    assert raised.returncode == 0, raised.tail()
    output = " ".join(raised.output.split())
    assert "server side (PostgreSQL) 41 of 77; client side (PgBouncer)" in output
    assert applied == (30, 30, before)  # a reload: the same process runs the new pool
    assert not (ini(deployment).parent / "raise_pool.previous").exists()
    assert back.returncode == 0, back.tail()
    assert (pool_in_ini(deployment), pool_in_console(deployment)) == (DEPLOYED, DEPLOYED)


def test_a_pgbouncer_pool_the_database_cannot_take_is_refused_and_nothing_changes(
    first_deploy, deployment
):
    assert first_deploy.returncode == 0, first_deploy.tail()
    before = (pool_in_ini(deployment), pgbouncer_pid(deployment))

    run = deployment.playbook("raise_pool.yml", "-e", "pgbouncer_pool_size=80", *SHORT_WATCH)

    assert run.returncode != 0
    output = " ".join(run.output.split())
    assert "Not safe to change PgBouncer's pool; nothing was changed." in output
    assert "server side (PostgreSQL): 91 above 77" in output  # 80 + 5 reserve + 6 direct
    assert (pool_in_ini(deployment), pgbouncer_pid(deployment)) == before
