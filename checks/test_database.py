"""The schema is migrated and the capacity probe can run against the database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg

from app import migrations
from app.infra.errors import connect_reason
from checks.smoke import fail


def test_every_migration_is_applied(database_url):
    try:
        states = migrations.status(database_url)
    except (psycopg.Error, ValueError) as exc:
        error = f"cannot read the migration state: {connect_reason(exc)}"
    else:
        error = None
    if error:
        fail(error)
    pending = [s.id for s in states if not s.applied]
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
