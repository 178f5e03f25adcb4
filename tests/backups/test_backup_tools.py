"""checks/backup on a real pgBackRest repository: the exporter's metrics before and after
a backup, the schedule catching up a missed backup, its calendar at the edges."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from datetime import UTC, datetime

import pytest

from checks.backup import info, schedule
from tests.support.paths import REPO
from tests.support.prometheus import sample_value
from tests.support.servers import free_port
from tests.support.waiting import wait_for

# As on the backup host: the role runs the tools with the system's python3.
SYSTEM_PYTHON = "/usr/bin/python3"


def start_tool(tool: str, *args: str, log) -> subprocess.Popen:
    """`python3 -m checks.backup.<tool> ARGS` as postgres (the repository's owner here)."""
    return subprocess.Popen(
        [SYSTEM_PYTHON, "-m", f"checks.backup.{tool}", *args],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        user="postgres",
        group="postgres",
        extra_groups=[],
    )


def stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=60) as answer:
            return answer.read().decode()
    except OSError:
        return None


@pytest.fixture
def exporter(repository, tmp_path):
    port = free_port()
    with (tmp_path / "exporter.log").open("w") as log:
        process = start_tool(
            "exporter", "--listen", f"127.0.0.1:{port}", "--", *repository.command, log=log
        )
    try:
        wait_for(lambda: scrape(port), 30, "the exporter to answer")
        yield port
    finally:
        assert stop(process) == 0


def test_the_exporter_reads_a_repository_without_backups_as_a_backup_at_time_zero(exporter):
    text = scrape(exporter)

    assert sample_value(text, info.REPOSITORY_UP) == 1
    assert sample_value(text, info.BACKUPS) == 0
    for kind in info.TYPES:
        assert f'{info.LAST_GOOD}{{type="{kind}"}} 0' in text.splitlines()


def test_the_exporter_shows_when_the_newest_full_backup_completed(repository, exporter):
    before = time.time()
    repository.run("--type=full", "backup")
    after = time.time()

    text = scrape(exporter)

    assert sample_value(text, info.BACKUPS) == 1
    assert before - 1 <= sample_value(text, info.LAST_GOOD, type="full") <= after + 1
    assert sample_value(text, info.LAST_GOOD, type="diff") == 0


def test_the_exporter_says_down_for_a_stanza_the_repository_does_not_hold(repository, tmp_path):
    port = free_port()
    command = [*repository.command[:-1], "--stanza=nosuch"]
    with (tmp_path / "exporter.log").open("w") as log:
        process = start_tool("exporter", "--listen", f"127.0.0.1:{port}", "--", *command, log=log)
    try:
        text = wait_for(lambda: scrape(port), 30, "the exporter to answer")
    finally:
        stop(process)

    assert sample_value(text, info.REPOSITORY_UP) == 0
    assert info.LAST_GOOD not in text


def schedule_until_it_waits(repository, tmp_path, *, within_s: float) -> str:
    """The schedule started, then stopped once it waits for its next time: its log."""
    log_path = tmp_path / "schedule.log"
    with log_path.open("w") as log:
        process = start_tool("schedule", "--at", "00:00", "--", *repository.command, log=log)
    try:
        wait_for(lambda: "next backup at" in log_path.read_text(), within_s, "the schedule to wait")
    finally:
        assert stop(process) == 0
    return log_path.read_text()


def test_the_schedule_takes_a_missed_backup_at_start_then_waits_for_its_time(repository, tmp_path):
    text = schedule_until_it_waits(repository, tmp_path, within_s=300)

    assert "backup done in" in text, text
    (backup,) = repository.info().backups
    assert backup.type == "full"  # the first is a full whatever the day says


def test_the_schedule_does_not_take_a_backup_at_start_when_the_newest_is_fresh(
    repository, tmp_path
):
    repository.run("--type=full", "backup")
    text = schedule_until_it_waits(repository, tmp_path, within_s=60)

    assert "backup starting" not in text


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (datetime(2026, 12, 6, 1, 29, 59, tzinfo=UTC), datetime(2026, 12, 6, 1, 30, tzinfo=UTC)),
        (datetime(2026, 12, 6, 1, 30, 0, tzinfo=UTC), datetime(2026, 12, 7, 1, 30, tzinfo=UTC)),
        (datetime(2026, 12, 6, 1, 30, 1, tzinfo=UTC), datetime(2026, 12, 7, 1, 30, tzinfo=UTC)),
    ],
)
def test_the_next_run_is_the_next_time_of_day_strictly_after_now(now, due):
    assert schedule.next_run(now, (1, 30)) == due


def test_the_full_backup_falls_on_its_weekday_only():
    sunday, monday = datetime(2026, 12, 6, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)
    assert (schedule.kind_on(sunday, 6), schedule.kind_on(monday, 6)) == ("full", "diff")
