"""WAL archiving works: archive_mode is on and nothing failed since the last archived
segment (pg_stat_archiver, readable by the monitoring role). A failure means WAL piles
up on the db host and a restore can only reach the last segment that made it."""

from __future__ import annotations

from checks import dbconnect
from checks.smoke import fail

RUNBOOK = "docs/runbooks/backup-failing.md"
TIME = "%Y-%m-%d %H:%M:%S%z"
ARCHIVER = (
    "SELECT current_setting('archive_mode'), archived_count, failed_count, last_archived_wal,"
    " last_archived_time, last_failed_wal, last_failed_time FROM pg_stat_archiver"
)


def _archiver(monitor_dsn: str) -> tuple:
    try:
        with dbconnect.connect(monitor_dsn) as conn:
            return conn.execute(ARCHIVER).fetchone()
    except (dbconnect.CheckError, dbconnect.NoFreeSlots) as exc:
        error = f"cannot read pg_stat_archiver: {exc}"
    fail(error)


def test_wal_archiving_works(monitor_dsn):
    mode, archived, failed, last_wal, last_time, failed_wal, failed_time = _archiver(monitor_dsn)
    if mode == "off":
        fail(
            "WAL archiving is off (archive_mode = off): no restore can reach past the last "
            f"backup's end. make deploy turns it on (roles/pgbackrest); see {RUNBOOK}"
        )
    if failed and (last_time is None or failed_time > last_time):
        since = f"the last archived: {last_wal} at {last_time:{TIME}}" if last_time else "none yet"
        fail(
            f"WAL archiving fails: {failed} failed attempts, the latest for {failed_wal} at "
            f"{failed_time:{TIME}} ({since}). WAL piles up on the db "
            f"host and the RPO grows: see {RUNBOOK}"
        )
    if not archived:
        fail(
            "no WAL segment was archived yet: after a deploy pgBackRest's check archives one "
            f"(pgbackrest check on the db host); see {RUNBOOK}"
        )
