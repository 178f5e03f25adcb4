"""raise_pool.yml against the e2e deployment: refused when the probe says not safe,
accepted when safe, rolled back when the monitor fires during the watch window.
Runs after test_deploy.py on the same deployment (DB_MAX_CONNECTIONS starts at 5)."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.support.deployment import REPO, Deployment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHORT_WATCH = ("-e", "raise_pool_watch_s=6", "-e", "raise_pool_watch_interval_s=2")


def pool_size_everywhere(deployment: Deployment) -> set[str]:
    """DB_MAX_CONNECTIONS as every web and worker process sees it."""
    sizes = set()
    for pid in deployment.service_pids().values():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        sizes |= {
            e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"DB_MAX_CONNECTIONS=")
        }
    return sizes


@contextmanager
def slow_queries(url: str, count: int) -> Iterator[None]:
    """`count` sessions each running pg_sleep, so the probe sees slow queries."""
    conns = [psycopg.connect(url, autocommit=True) for _ in range(count)]
    threads = [threading.Thread(target=_sleep_quietly, args=(conn,), daemon=True) for conn in conns]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # older than the probe's 1 s "slow" line
    try:
        yield
    finally:
        for conn in conns:
            conn.cancel()
        for thread in threads:
            thread.join(timeout=10)
        for conn in conns:
            conn.close()


def _sleep_quietly(conn: psycopg.Connection) -> None:
    with suppress(psycopg.Error):  # cancelled at the end of the test
        conn.execute("SELECT pg_sleep(120)")


@contextmanager
def cache_missing_traffic(base_url: str) -> Iterator[None]:
    """Requests that each miss the cache (a new user_id every time), until the block ends."""
    stop = threading.Event()

    def send() -> None:
        user_id = 1
        while not stop.is_set():
            user_id += 1
            try:
                urllib.request.urlopen(
                    f"{base_url}/api/predictions/matched?user_id={user_id}", timeout=5
                ).read()
            except OSError:
                time.sleep(0.2)  # the app restarts during the rolling step
            time.sleep(0.05)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def strict_thresholds(deployment: Deployment) -> Path:
    """checks/thresholds.yml with a cache-hit-rate trigger that misses always breach."""
    data = yaml.safe_load((REPO / "checks" / "thresholds.yml").read_text())
    data["monitor"]["cache_hit_rate"].update(
        target_above_pct=99.5, trigger_below_pct=99, window_s=30, min_requests=5
    )
    path = deployment.root / "strict-thresholds.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_refused_when_the_probe_says_not_safe(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    env_before = deployment.env_file.read_bytes()
    pids_before = deployment.service_pids()
    with slow_queries(deployment.env()["DATABASE_URL"], count=7):
        run = deployment.playbook("raise_pool.yml", "-e", "db_max_connections=10", *SHORT_WATCH)
    assert run.returncode != 0
    assert "Not safe to change the pool" in run.output, run.tail()
    assert "slow queries detected" in run.output
    assert deployment.env_file.read_bytes() == env_before
    assert deployment.service_pids() == pids_before


def test_refused_above_the_recommendation(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    env_before = deployment.env_file.read_bytes()
    # Judged as 4 whole pools (the explicit count wins over the deployment's fleet):
    # 4 x 80 is far above the budget of 77.
    four_pools = ("-e", "raise_pool_instances=4")
    run = deployment.playbook(
        "raise_pool.yml", "-e", "db_max_connections=80", *four_pools, *SHORT_WATCH
    )
    assert run.returncode != 0
    assert "is above the recommended 19" in run.output, run.tail()
    assert deployment.env_file.read_bytes() == env_before


def test_accepted_when_safe_and_live_in_every_process(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    pids_before = deployment.service_pids()
    run = deployment.playbook("raise_pool.yml", "-e", "db_max_connections=10", *SHORT_WATCH)
    assert run.returncode == 0, run.tail()
    # 4 threads + 2 refreshes per web process: a pool of 10 is said to be partly useless.
    assert "cannot take effect above 6" in " ".join(run.output.split())
    assert deployment.env()["DB_MAX_CONNECTIONS"] == "10"
    assert pool_size_everywhere(deployment) == {"10"}
    pids_after = deployment.service_pids()
    assert set(pids_after) == set(pids_before)
    assert all(pids_after[name] != pids_before[name] for name in pids_before)


def test_rolled_back_when_a_trigger_fires_in_the_watch_window(
    first_deploy, deployment: Deployment, strict_thresholds: Path
):
    assert first_deploy.returncode == 0
    before = deployment.env()["DB_MAX_CONNECTIONS"]
    watch = ("-e", "raise_pool_watch_s=12", "-e", "raise_pool_watch_interval_s=3")
    with cache_missing_traffic(deployment.base_url):
        run = deployment.playbook(
            "raise_pool.yml",
            "-e",
            "db_max_connections=12",
            "-e",
            f"raise_pool_thresholds={strict_thresholds}",
            *watch,
        )
    assert run.returncode != 0
    expected = f"Rolled back DB_MAX_CONNECTIONS to {before}: the monitor fired"
    assert expected in run.output, run.tail()
    assert "cache_hit_rate=" in run.output
    assert deployment.env()["DB_MAX_CONNECTIONS"] == before
    assert pool_size_everywhere(deployment) == {before}
