"""deploy.yml and rollback.yml on the lab's fleet (issue 12): a deploy while app-1 is down
starts the new release nowhere and leaves the schema alone; a release that carries a
migration rolls out to every host, and rollback.yml back, while a client on both app
hosts sees no failed request.

Runs after test_fleet.py and test_raise_pool_lab.py on their deployment (the session's
first_fleet_deploy), never deploying from scratch. Leaves every host on the release it
found and the schema as it found it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.hosts import (
    app_and_worker_hosts,
    client_on,
    playbook,
    process_env,
    release_link,
    sudo,
    wait_ready,
)
from tests.lab import Lab
from tests.support.deployment import RECAP
from tests.support.releases import other_checkout

pytestmark = [pytest.mark.lab, pytest.mark.slow]

# The new release's one extra migration: a nullable column, which the release before
# it does not read (as every migration must be, for a rolling deploy and a rollback).
MIGRATION = "0004_lab_release_note"
COLUMN = "lab_release_note"
MIGRATION_SQL = f"""-- Only in the lab's test release (tests/fleet/test_release_lab.py).
-- depends: 0003_half_stats_index
ALTER TABLE ts_matches ADD COLUMN IF NOT EXISTS {COLUMN} text;
"""
ROLLBACK_SQL = f"ALTER TABLE ts_matches DROP COLUMN IF EXISTS {COLUMN};\n"
# The schema on db-1, as the superuser sees it: every object, and the applied migrations.
# (pg_dump's random \restrict lines differ on every run.)
SCHEMA = (
    "sudo -u postgres pg_dump --schema-only goalgpt | grep -Ev '^\\\\(un)?restrict' && "
    "sudo -u postgres psql -At -d goalgpt -c "
    "'SELECT migration_id FROM _yoyo_migration ORDER BY migration_id'"
)


def schema(lab: Lab) -> str:
    done = lab.run("db-1", SCHEMA, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def releases_running(lab: Lab, host: str) -> set[str]:
    return set(process_env(lab, host, "GOALGPT_RELEASE").values())


@pytest.fixture(scope="module")
def new_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout of another release, with one more migration."""
    checkout = other_checkout(tmp_path_factory.mktemp("release"), "tests/fleet/test_release_lab.py")
    sql = checkout / "app" / "migrations" / "sql"
    (sql / f"{MIGRATION}.sql").write_text(MIGRATION_SQL)
    (sql / f"{MIGRATION}.rollback.sql").write_text(ROLLBACK_SQL)
    return checkout


@pytest.fixture(scope="module")
def deployed(first_fleet_deploy, lab: Lab) -> Iterator[str]:
    """The release every app and worker host runs now; afterwards the schema loses the
    test migration again (rollback.yml leaves the schema as it is, by design)."""
    assert first_fleet_deploy.run.returncode == 0
    releases = {release_link(lab, host) for host in app_and_worker_hosts(lab)}
    assert len(releases) == 1, releases
    yield releases.pop()
    sudo(
        lab,
        "db-1",
        f"sudo -u postgres psql -v ON_ERROR_STOP=1 -q -d goalgpt -c '{ROLLBACK_SQL.strip()}' "
        f"-c \"DELETE FROM _yoyo_migration WHERE migration_id = '{MIGRATION}'\"",
    )


def test_a_deploy_while_app_1_is_down_starts_the_new_release_nowhere(
    deployed: str, lab: Lab, new_release: Path
):
    schema_before = schema(lab)
    lab.stop("app-1")
    try:
        run = playbook(lab, "deploy.yml", "-e", f"goalgpt_base_repo_dir={new_release}")
    finally:
        lab.restore("app-1")
        wait_ready(lab, "app-1", within_s=90)

    assert run.returncode != 0, run.tail()
    # The first play stops the run (fail closed), before anything changes.
    unreachable = {match[1]: int(match[4]) for match in RECAP.finditer(run.output)}
    assert unreachable.get("app-1") == 1, run.tail()
    assert "PLAY [Prepare" not in run.output, run.tail()
    for host in app_and_worker_hosts(lab):
        assert release_link(lab, host) == deployed, host
        assert releases_running(lab, host) == {deployed}, host
    assert schema(lab) == schema_before


def test_a_release_with_a_migration_rolls_out_and_back_without_a_failed_request(
    deployed: str, lab: Lab, new_release: Path
):
    hosts = app_and_worker_hosts(lab)
    for host in lab.groups["app"]:
        wait_ready(lab, host, within_s=90)

    with client_on(lab) as client:
        run = playbook(lab, "deploy.yml", "-e", f"goalgpt_base_repo_dir={new_release}")
    assert run.returncode == 0, run.tail()
    assert client.failed() == {}, (client.failed(), client.served())
    assert all(client.served().values()), client.served()
    new = release_link(lab, "app-1")
    assert new != deployed
    for host in hosts:
        assert release_link(lab, host) == new, host
        assert release_link(lab, host, "previous") == deployed, host
        assert releases_running(lab, host) == {new}, host
    assert MIGRATION in schema(lab) and COLUMN in schema(lab)

    with client_on(lab) as client:
        back = playbook(lab, "rollback.yml")
    assert back.returncode == 0, back.tail()
    assert client.failed() == {}, (client.failed(), client.served())
    assert all(client.served().values()), client.served()
    for host in hosts:
        assert release_link(lab, host) == deployed, host
        assert releases_running(lab, host) == {deployed}, host
