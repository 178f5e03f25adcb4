"""playbooks/migrate.yml run for real with the repo's ansible-playbook against inventory/local."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.migrations.helpers import HALF_STATS, REPO, column_names, run_cli

pytestmark = pytest.mark.slow

PASSWORD = "s3cret-pw"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


def _playbook(url: str, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "playbooks/migrate.yml",
            "-e",
            f"goalgpt_database_url={url}",
            *extra,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**env, "ANSIBLE_NOCOLOR": "1"},
        timeout=300,
    )


def _recap(result: subprocess.CompletedProcess) -> dict[str, int]:
    match = re.search(r"localhost\s+:\s+(.*)", result.stdout)
    assert match, result.stdout + result.stderr
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


@pytest.fixture
def url_with_password(baseline_url: str) -> str:
    """The test server trusts every login, so a password in the URL is accepted as given."""
    return baseline_url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def test_migrate_playbook_applies_and_verifies_then_a_second_run_changes_nothing(
    url_with_password,
):
    first = _playbook(url_with_password)
    assert first.returncode == 0, first.stdout + first.stderr
    assert _recap(first)["changed"] == 1
    assert "applied 0003_half_stats_index" in first.stdout
    assert "ok    index idx_ts_matches_data_completeness: valid" in first.stdout
    assert run_cli("verify", dsn=url_with_password).returncode == 0

    second = _playbook(url_with_password, "-vvv")

    assert second.returncode == 0, second.stdout + second.stderr
    assert _recap(second)["changed"] == 0
    for output in (first.stdout, first.stderr, second.stdout, second.stderr):
        assert PASSWORD not in output


def test_migrate_playbook_fails_with_the_clis_one_line_error_and_no_password(url_with_password):
    unreachable = re.sub(r"@127\.0\.0\.1:\d+/", "@127.0.0.1:1/", url_with_password)

    result = _playbook(unreachable, "-vvv")

    assert result.returncode == 2
    assert _recap(result)["failed"] == 1
    assert "error: apply failed: connection failed:" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr


def test_migrate_playbook_passes_lock_settings_to_the_cli(url_with_password):
    result = _playbook(
        url_with_password,
        "-e",
        '{"goalgpt_migration_settings": {"MIGRATION_LOCK_TIMEOUT_MS": "0"}}',
    )

    assert result.returncode == 2
    assert "invalid MIGRATION_LOCK_TIMEOUT_MS='0'" in result.stdout
    assert HALF_STATS.isdisjoint(column_names(url_with_password))
