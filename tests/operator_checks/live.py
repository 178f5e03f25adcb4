"""Helpers for checks against the live predictions service (real gunicorn, PostgreSQL, Redis)."""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from tests.support.checks import Probe
from tests.support.gunicorn import get
from tests.support.paths import REPO
from tests.support.processes import module_argv
from tests.support.prometheus import sample_value


def monitor_during(action: Callable[[], None], *args: str) -> Probe:
    """Run `python -m checks.monitor ARGS --json`; `action` runs after the baseline sample.

    `action` sets up a condition; the monitor then runs to its --duration while
    the condition holds, so every later sample sees it.
    """
    monitor = subprocess.Popen(
        module_argv("checks.monitor", *args, "--json"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = monitor.stdout.readline()
        assert json.loads(first)["type"] == "sample", first
        action()
        # Read through the same buffered pipe: communicate() would skip what readline buffered.
        rest, errors = monitor.stdout.read(), monitor.stderr.read()
        monitor.wait(timeout=60)
    finally:
        monitor.kill()
        monitor.wait()
    return Probe(monitor.returncode, first + rest, errors)


def pool_waiting(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=10) as answer:
        return sample_value(answer.read().decode(), "goalgpt_db_pool_waiting")


def app_queries_waiting_for_a_lock(database_url: str) -> int:
    sql = (
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'goalgpt-web' "
        "AND state = 'active' AND wait_event_type = 'Lock'"
    )
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchone()[0]


def alerts(probe: Probe) -> list[str]:
    return [json.loads(line)["metric"] for line in probe.stdout.splitlines() if '"alert"' in line]


def get_status(url: str, timeout: float = 30) -> int:
    return get(url, timeout).status


@contextmanager
def requests_stuck_behind_a_lock(database_url: str, urls: list[str]) -> Iterator[None]:
    """GET every url concurrently while `predictions` is locked: their queries wait (active).

    Leaving the block releases the lock first, then waits for every request.
    """
    threads = [threading.Thread(target=get_status, args=(url,)) for url in urls]
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            holder.rollback()
            for thread in threads:
                thread.join(timeout=60)
