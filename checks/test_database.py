"""The schema is migrated and the capacity probe can run against the database.

Both are asked through their operator commands (`python -m app.migrations status`,
`python -m checks.capacity`): the checks import no layer of the service but app.infra
and app.config (the layers contract in pyproject.toml).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from app.infra.errors import connect_reason
from checks.smoke import fail

# `python -m app.migrations status` ends "error: status failed: <why>" when it cannot read.
STATUS_FAILED = "error: status failed: "


def test_every_migration_is_applied(database_url):
    done = subprocess.run(
        [sys.executable, "-m", "app.migrations", "status", "--json", "--dsn", "-"],
        input=database_url + "\n",  # on stdin: the URL carries the password
        capture_output=True,
        text=True,
        timeout=20,
    )
    if done.returncode not in (0, 1):  # 0 up to date, 1 pending, 2 could not check
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        fail(f"cannot read the migration state: {connect_reason(last.removeprefix(STATUS_FAILED))}")
    pending = json.loads(done.stdout)["pending"]
    if pending:
        fail(
            f"migrations not applied: {', '.join(pending)}. "
            "Run: ansible-playbook playbooks/migrate.yml (or python -m app.migrations apply)"
        )


def test_capacity_probe_runs(monitor_dsn):
    done = subprocess.run(
        [sys.executable, "-m", "checks.capacity", "--dsn", monitor_dsn, "--json"],
        capture_output=True,
        text=True,
        timeout=20,
        env={**os.environ, "DATABASE_URL": monitor_dsn},
    )
    if done.returncode not in (0, 1, 3):  # 3: a verdict too (the pool is above the recommendation)
        fail(f"the capacity probe could not check: {done.stderr.strip()}")
    try:
        verdict = json.loads(done.stdout)
    except ValueError:
        verdict = {}
    if "safe" not in verdict:
        fail(f"the capacity probe printed no verdict: {done.stdout.strip()[:300]}")
