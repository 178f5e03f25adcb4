"""The deployment's queues: a worker SIGKILLed mid-job, the cache Redis down, the queue
Redis down for a minute with rq cron restarted meanwhile (supervisord).

Runs after test_deploy.py on the same deployment and leaves it healthy.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

import pytest
import redis
from rq import Queue, Worker
from rq.job import Job

from app.infra import fleet_registry, redis_client
from tests.support.deployment import Deployment
from tests.support.processes import running
from tests.support.prometheus import sample_value
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ABANDONED_WITHIN_S = 60


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def children(pid: int) -> list[int]:
    with suppress(FileNotFoundError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


@pytest.fixture
def queue_redis(first_deploy, deployment: Deployment) -> redis.Redis:
    assert first_deploy.returncode == 0
    return redis_client.client(deployment.env()["RQ_REDIS_URL"], connect_timeout_s=5)


def test_a_deployed_worker_sigkilled_mid_job_has_its_job_failed_within_a_minute(
    queue_redis, deployment
):
    job = Queue("goalgpt-maintenance", connection=queue_redis).enqueue(
        "time.sleep", 300, job_timeout=600
    )
    wait_for(lambda: job.get_status(refresh=True) == "started", 60, "a worker to take the job")
    job.refresh()
    worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + job.worker_name, queue_redis)
    horse = wait_for(lambda: children(worker.pid), 10, "the work horse")

    # The worker first, gone before its work horse dies: a worker that saw its horse die
    # would fail the job itself ("Work-horse terminated unexpectedly"). Killed in this
    # order, only the abandoned-job check can end the job, so the outcome is certain.
    os.kill(worker.pid, signal.SIGKILL)
    wait_for(lambda: not running(worker.pid), 30, "the worker to be gone")
    for pid in horse:
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()

    wait_for(
        lambda: job.get_status(refresh=True) in ("failed", "queued", "scheduled"),
        ABANDONED_WITHIN_S,
        "the abandoned job to be failed or retried",
        1,
    )
    print(f"abandoned job handled {time.monotonic() - killed:.0f}s after the SIGKILL")
    assert "AbandonedJobError" in Job.fetch(job.id, queue_redis).latest_result().exc_string
    # supervisord starts the killed worker again: every worker is registered.
    workers = deployment.variables()["goalgpt_workers_count"]
    wait_for(lambda: len(Worker.all(connection=queue_redis)) == workers, 60, "the workers back")


def test_cache_redis_down_readyz_200_degraded_api_200_and_the_gate_fails_naming_redis(
    first_deploy, deployment
):
    assert first_deploy.returncode == 0
    stopped = deployment.supervisorctl("stop", "goalgpt-redis-cache")
    assert "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    try:
        status, ready = get(f"{deployment.base_url}/readyz")
        api_status, _ = get(f"{deployment.base_url}/api/predictions/matched?limit=2")
        gate = deployment.playbook("raise_pool.yml", "-e", "db_max_connections=6")
    finally:
        deployment.supervisorctl("start", "goalgpt-redis-cache")

    assert status == 200 and ready["status"] == "degraded", ready
    assert ready["degraded"] == ["redis"]
    assert api_status == 200
    assert gate.returncode != 0
    assert (
        "not every dependency answers: redis - redis: cannot reach rediss://127.0.0.1:"
        in gate.output
    )
    assert "Rolling" not in gate.output  # stopped at the gate: nothing changed
    assert deployment.secret("redis_cache") not in gate.output
    wait_for(lambda: get(f"{deployment.base_url}/readyz")[1].get("status") == "ready", 30, "ready")


QUEUE_OUTAGE_S = 60  # the outage the issue measured: supervisord gave up on rq cron within it


def last_tick(deployment: Deployment) -> float:
    """When the match-minute job last succeeded, from the app's /metrics (0: never)."""
    with urllib.request.urlopen(f"{deployment.base_url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sample_value(text, "goalgpt_job_last_success_timestamp_seconds", job="match_minute")


def test_queue_redis_down_60s_with_rq_cron_restarted_then_one_rq_cron_and_jobs_run(
    queue_redis, deployment
):
    stopped = deployment.supervisorctl("stop", "goalgpt-redis-queue")
    assert "stopped" in stopped.stdout, stopped.stdout + stopped.stderr
    down_at = time.monotonic()
    try:
        restarted = deployment.supervisorctl("restart", "goalgpt-cron")
        assert "started" in restarted.stdout, restarted.stdout + restarted.stderr
        cron_log = deployment.root / "log" / "supervisor" / "goalgpt-cron.log"
        wait_for(
            lambda: "rq cron: waiting for the queue Redis" in cron_log.read_text(),
            30,
            "the restarted rq cron to wait for its Redis",
        )
        time.sleep(max(0.0, QUEUE_OUTAGE_S - (time.monotonic() - down_at)))  # the outage
        assert " RUNNING " in deployment.supervisorctl("status", "goalgpt-cron").stdout
    finally:
        deployment.supervisorctl("start", "goalgpt-redis-queue")
    back = time.time()

    wait_for(
        lambda: len(fleet_registry.read(queue_redis).running_schedulers(time.time())) == 1,
        60,
        "exactly one rq cron registered within a minute",
    )
    assert deployment.supervisorctl("status", "goalgpt-cron").stdout.count(" RUNNING ") == 1
    # The next minute's tick is queued by it and run by a worker.
    wait_for(lambda: last_tick(deployment) > back, 120, "a match-minute tick after the outage", 2)
