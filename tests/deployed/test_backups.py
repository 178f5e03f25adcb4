"""Backups after a deploy: a WAL switch pgBackRest forces on the db host reaches the
repository, the repository holds a good backup, its passphrase is for pgBackRest only, and the
backups are scheduled (systemd timers, or the supervisord program)."""

from __future__ import annotations

import json

import pytest

from tests.deployed.layout import Layout

RUNBOOK = "docs/runbooks/backup-failing.md"


def needs(layout: Layout, group: str) -> None:
    if group not in layout.groups:
        pytest.skip(f"not in group {group}")


def repository_user(layout: Layout) -> str:
    """Who owns the repository: postgres where it is on the db host, else its own user."""
    return "postgres" if "db" in layout.groups else layout.backup_repo_user


def test_a_forced_wal_switch_is_archived_in_the_repository(host, layout):
    needs(layout, "db")
    checked = host.run(layout.pgbackrest("postgres", "check"))
    last = (checked.stderr or checked.stdout).strip().splitlines()[-1:] or [""]
    assert checked.rc == 0, (
        f"WAL archiving does not work on {host.backend.get_hostname()}: pgbackrest check "
        f"exited {checked.rc}: {last[0]}. See {RUNBOOK}"
    )


def test_the_repository_holds_a_good_backup(host, layout):
    needs(layout, "backup")
    listed = host.run(layout.pgbackrest(repository_user(layout), "--output=json", "info"))
    assert listed.rc == 0, listed.stderr
    (stanza,) = [s for s in json.loads(listed.stdout) if s["name"] == layout.backup_stanza]
    assert stanza["status"]["code"] == 0, f"repository: {stanza['status']['message']}; {RUNBOOK}"
    assert [b for b in stanza["backup"] if not b.get("error")], "no good backup in the repository"


def test_the_repository_passphrase_is_readable_by_pgbackrest_only(host, layout):
    needs(layout, "backup")
    secret = host.file(f"{layout.backup_conf_dir}/conf.d/cipher.conf")
    assert secret.is_file
    assert (secret.user, secret.group, secret.mode) == ("root", repository_user(layout), 0o640)


def test_backups_are_scheduled(host, layout):
    needs(layout, "backup")
    if host.file("/run/systemd/system").is_directory:
        for kind in ("full", "diff"):
            timer = host.service(f"{layout.backup_service}-{kind}.timer")
            assert timer.is_enabled and timer.is_running, f"{layout.backup_service}-{kind}.timer"
    else:
        program = f"{layout.backup_service}-schedule"
        status = host.run(f"{layout.supervisorctl} -c {layout.supervisor_conf} status {program}")
        assert " RUNNING " in status.stdout, status.stdout + status.stderr
