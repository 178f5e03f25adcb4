"""Backups and restores on the lab (db-1 archiving into the repository on mon-1 over
pgBackRest's TLS servers), on the session's one fleet deployment (`first_fleet_deploy`),
with no other command than the documented ones (playbooks/restore.yml, make check):

- the repository unreachable (mon-1's pgBackRest server stopped): GoalGPTWalArchivingFailing
  fires, the smoke gate names the failing archiving, the database keeps serving and keeps
  the WAL it could not archive, which reaches the repository once it is back;
- one restore drill: rows written, a time T noted, more rows written, a writer committing
  a row every 0.2 s. restore.yml refuses to overwrite db-1's running, healthy cluster
  without -e restore_overwrite=true and leaves it, the workers and rq cron untouched.
  Then a power loss of db-1 under the writes (every process SIGKILLed) and its data
  directory removed: restore.yml to the latest loses at most the last archive_timeout
  (the RPO) and nothing before; restore.yml to T then brings back every row committed
  before T and none after.

Each restore ends with the app hosts ready and the smoke gate green (restore.yml runs
check.yml). Runs last (file order); db-1 is left restored and serving, also on failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.fleet.hosts import firing, main_pids, playbook, report, rule_annotations, sudo, url
from tests.support.gunicorn import get
from tests.support.roles import role_defaults
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

DB = "db-1"
DRILL = "restore_drill"  # a database of its own: the app's schema stays as migrations made it
DATA_DIR = "/var/lib/postgresql/15/main"  # roles/postgresql, the lab inventory leaves it
PGBACKREST = "pgbackrest --config-path=/etc/pgbackrest --stanza=goalgpt"
ARCHIVE_SLACK_S = 10  # the last segment's archive-push, and the clocks of two hosts
# archive-push retries a refused connection to the repository host for twice its
# io-timeout before it fails (pgBackRest 2.45, measured: `pgbackrest info --io-timeout=5`
# against a closed TLS port fails after 10 s).
CONNECT_RETRY_S = 2 * role_defaults()["pgbackrest_archive_push_io_timeout_s"]


@pytest.fixture(scope="module")
def fleet(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0, first_fleet_deploy.run.tail()
    return lab


def psql(lab, sql: str, dbname: str = DRILL) -> str:
    """sql as postgres on db-1 over its socket; the answer, unaligned."""
    command = 'runuser -u postgres -- psql --no-psqlrc -At -v ON_ERROR_STOP=1 -d "$1" -c "$2"'
    return sudo(lab, DB, command, dbname, sql).strip()


def answers(lab) -> bool:
    done = lab.run(DB, ["sudo", "runuser", "-u", "postgres", "--", "psql", "-Atc", "SELECT 1"])
    return done.returncode == 0 and done.stdout.strip() == "1"


def serving(lab) -> None:
    """Every app host ready and answering the API."""
    for host in lab.groups["app"]:
        assert get(url(lab, host, "/readyz")).status == 200, host
        assert get(url(lab, host, "/api/predictions/matched?limit=1")).status == 200, host


@pytest.fixture
def drill_database(fleet) -> Iterator[None]:
    psql(fleet, f"DROP DATABASE IF EXISTS {DRILL}", "postgres")
    psql(fleet, f"CREATE DATABASE {DRILL}", "postgres")
    yield
    if answers(fleet):
        psql(fleet, f"DROP DATABASE IF EXISTS {DRILL}", "postgres")


@pytest.fixture
def db_put_back(fleet) -> Iterator[None]:
    """Whatever a test broke, db-1 ends restored (the latest) and serving."""
    yield
    if not answers(fleet):
        run = playbook(fleet, "restore.yml", "-e", "restore_overwrite=true")
        assert run.returncode == 0, run.tail(60)


def power_loss_and_disk_lost(lab) -> float:
    """Every PostgreSQL process on db-1 killed at once (no shutdown, no last WAL switch),
    then its data directory removed. db-1's clock when it happened."""
    at = sudo(lab, DB, "date +%s.%N; systemctl kill -s SIGKILL postgresql@15-main").split()[0]
    sudo(lab, DB, f"systemctl stop postgresql@15-main; rm -rf {DATA_DIR}")
    return float(at)


def test_wal_archiving_broken_fires_the_alert_and_the_gate_while_the_database_serves(
    fleet, drill_database
):
    lab = fleet
    repository = lab.groups["backup"][0]
    failed_before = int(psql(lab, "SELECT failed_count FROM pg_stat_archiver"))
    sudo(lab, repository, "systemctl stop goalgpt-pgbackrest")
    try:
        psql(lab, "CREATE TABLE kept AS SELECT generate_series(1, 1000) AS id")
        psql(lab, "SELECT pg_switch_wal()")
        wait_for(
            lambda: int(psql(lab, "SELECT failed_count FROM pg_stat_archiver")) > failed_before,
            CONNECT_RETRY_S + 60,
            "archive-push to fail",
            1,
        )
        (alert,) = wait_for(
            lambda: firing(lab, "GoalGPTWalArchivingFailing"), 120, "the archiving alert", 2
        )
        gate = playbook(lab, "check.yml")
        serving(lab)
        psql(lab, "INSERT INTO kept VALUES (1001)")  # writes go on
        waiting = sudo(lab, DB, f"ls {DATA_DIR}/pg_wal/archive_status/ | grep -c ready || true")
    finally:
        sudo(lab, repository, "systemctl start goalgpt-pgbackrest")

    assert alert["metric"]["host"] == DB
    annotations = rule_annotations(lab, "GoalGPTWalArchivingFailing")
    assert annotations["runbook"] == "docs/runbooks/backup-failing.md"
    assert gate.returncode != 0
    assert "WAL archiving fails: " in gate.output, gate.tail()
    assert int(waiting) >= 1  # kept on db-1 until the repository takes it
    # Back: what waited reaches the repository, and pgBackRest's check passes.
    wait_for(
        lambda: (
            psql(lab, "SELECT last_archived_time > last_failed_time FROM pg_stat_archiver") == "t"
        ),
        120,
        "the kept WAL to be archived",
        2,
    )
    sudo(lab, DB, f"runuser -u postgres -- {PGBACKREST} check")


def start_writer(lab) -> None:
    """One committed row in ticks every 0.2 s, in the background on db-1, until the
    cluster dies."""
    psql(lab, "CREATE TABLE ticks (id serial PRIMARY KEY, at timestamptz NOT NULL)")
    writer = (
        "DO $$ BEGIN LOOP INSERT INTO ticks (at) VALUES (clock_timestamp()); COMMIT; "
        "PERFORM pg_sleep(0.2); END LOOP; END $$"
    )
    script = 'nohup runuser -u postgres -- psql -d "$1" -c "$2" >/dev/null 2>&1 &'
    sudo(lab, DB, script, DRILL, writer)
    wait_for(lambda: int(psql(lab, "SELECT count(*) FROM ticks")) > 0, 30, "the writer", 1)


def archive_timeout_s(lab) -> int:
    """db-1's archive_timeout as the server has it (the RPO's bound)."""
    return int(psql(lab, "SELECT setting FROM pg_settings WHERE name = 'archive_timeout'"))


def written_for_s(lab) -> float:
    return float(psql(lab, "SELECT extract(epoch FROM max(at) - min(at)) FROM ticks"))


def refused(lab) -> None:
    """restore.yml without the flag over the running cluster: refused, nothing touched."""
    started = psql(lab, "SELECT pg_postmaster_start_time()", "postgres")
    jobs = {host: main_pids(lab, host) for host in lab.groups["workers"]}

    run = playbook(lab, "restore.yml")

    assert run.returncode != 0
    assert f"{DB} has a cluster in {DATA_DIR} (it runs and answers" in run.output, run.tail()
    assert "Nothing was stopped or changed" in run.output
    assert "add -e restore_overwrite=true" in run.output
    assert psql(lab, "SELECT pg_postmaster_start_time()", "postgres") == started
    assert {host: main_pids(lab, host) for host in jobs} == jobs  # never stopped
    serving(lab)


def restored(lab, *args: str) -> float:
    """restore.yml's run time; it ended green (its last play is the smoke gate)."""
    started = time.monotonic()
    run = playbook(lab, "restore.yml", *args)
    assert run.returncode == 0, run.tail(80)
    serving(lab)
    return time.monotonic() - started


def test_restore_drill_refuses_a_healthy_cluster_then_latest_and_a_point_in_time(
    fleet, drill_database, db_put_back
):
    lab = fleet
    psql(lab, "CREATE TABLE rows (id int PRIMARY KEY)")
    psql(lab, "INSERT INTO rows SELECT generate_series(1, 50)")
    target = psql(lab, "SELECT clock_timestamp()")  # after the first 50 committed
    psql(lab, "INSERT INTO rows SELECT generate_series(51, 100)")
    start_writer(lab)  # ticks: made after T
    refused(lab)
    rpo_s = archive_timeout_s(lab)
    # Writing for longer than archive_timeout, or the bound below could not fail.
    wait_for(lambda: written_for_s(lab) > rpo_s + 15, rpo_s + 90, "a longer write", 2)
    lost_at = power_loss_and_disk_lost(lab)

    latest_s = restored(lab)

    count, newest, gaps = psql(
        lab,
        "SELECT count(*), extract(epoch FROM max(at)), max(id) - count(*) FROM ticks",
    ).split("|")
    lost_s = lost_at - float(newest)
    report(f"restore.yml latest after a power loss (lab, small database): {latest_s:.0f} s")
    report(f"latest restore after a power loss under writes: the last {lost_s:.1f} s lost")
    assert int(count) > rpo_s  # rows from more than a whole timeout were written
    assert int(gaps) == 0  # every row up to the newest kept one is back
    assert lost_s <= rpo_s + ARCHIVE_SLACK_S
    assert psql(lab, "SELECT min(id), max(id), count(*) FROM rows") == "1|100|100"

    to_time_s = restored(lab, "-e", f"restore_target='{target}'", "-e", "restore_overwrite=true")

    report(f"restore.yml to a time over a running cluster (lab): {to_time_s:.0f} s")
    assert psql(lab, "SELECT min(id), max(id), count(*) FROM rows") == "1|50|50"
    assert psql(lab, "SELECT to_regclass('ticks') IS NULL") == "t"  # made after T
