"""`pytest checks/` fails in words an operator understands, and fast.

The checks against a live app (all green, then Redis down) need the
predictions service; these cover what runs without it.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.support.databases import create_database, drop_database
from tests.support.processes import run_module
from tests.support.servers import free_port


def run_gate(*args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = run_module(
        "pytest",
        "checks/",
        "-v",
        "-p",
        "no:cacheprovider",
        *args,
        timeout=120,
        env={**os.environ, **env},
    )
    return done, time.monotonic() - started


@pytest.fixture
def unmigrated_url(pg_server):
    name = create_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)


def test_gate_against_a_stopped_app_says_so_without_tracebacks_within_30s(migrated_database_url):
    base = f"http://127.0.0.1:{free_port()}"

    done, elapsed = run_gate(GOALGPT_BASE_URL=base, DATABASE_URL=migrated_database_url)

    assert done.returncode == 1
    assert f"{base}/healthz did not answer ([Errno 111] Connection refused)" in done.stdout
    assert "Set GOALGPT_BASE_URL to the deployment's address." in done.stdout
    assert "test_every_migration_is_applied PASSED" in done.stdout
    assert "test_capacity_probe_runs PASSED" in done.stdout
    assert "test_database_active_connections_are_within_thresholds PASSED" in done.stdout
    assert "Traceback" not in done.stdout
    assert "During handling" not in done.stdout
    assert elapsed < 30


def test_gate_names_the_pending_migration_and_the_command_to_apply_it(unmigrated_url):
    done, _ = run_gate("-k", "migration", DATABASE_URL=unmigrated_url)

    assert done.returncode == 1
    assert "migrations not applied: 0001_initial, " in done.stdout
    assert "Run: ansible-playbook playbooks/migrate.yml" in done.stdout


def test_gate_refuses_a_pool_timeout_the_app_would_refuse_in_one_line():
    base = f"http://127.0.0.1:{free_port()}"

    done, _ = run_gate("-k", "app_is_alive", GOALGPT_BASE_URL=base, POOL_TIMEOUT_S="0")

    assert done.returncode == 1
    assert (
        "invalid POOL_TIMEOUT_S='0': the app accepts more than 0 and at most 120 seconds"
    ) in done.stdout
    assert "Traceback" not in done.stdout
