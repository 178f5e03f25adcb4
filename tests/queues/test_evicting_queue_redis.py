"""A queue Redis that may evict: workers, rq cron and enqueueing refuse it with one line."""

from __future__ import annotations

import os
import subprocess

import pytest
from rq import Queue

from app.infra.names import QUEUE_LIVE, QUEUE_MAINTENANCE
from tests.support.processes import run_module
from tests.support.queues import CACHE_CONFIG, job_env
from tests.support.rq_worker import worker_argv

EVICTING = {"maxmemory": "64mb", "maxmemory-policy": "allkeys-lru"}


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python -m argv` with the test's servers in the environment."""
    return run_module(*argv, env={**os.environ, **env}, timeout=60)


def refusal(who: str, port: int) -> str:
    return (
        f"error: {who} refuses to start: the queue Redis at 127.0.0.1:{port} has "
        "maxmemory-policy allkeys-lru, which evicts RQ jobs when memory is full; set "
        "maxmemory-policy noeviction on it (the redis role's queue instance) or point "
        "RQ_REDIS_URL at one that has it"
    )


@pytest.fixture
def evicting(start_redis):
    cache = start_redis(CACHE_CONFIG)
    queues = start_redis(EVICTING, password="queue-secret")
    return queues, job_env(cache, queues)


def test_a_worker_refuses_to_start_on_an_allkeys_lru_queue_redis_with_one_line(evicting):
    queues, env = evicting
    done = run(["rq.cli", *worker_argv(queues.url, [QUEUE_LIVE])], env)

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [refusal("rq worker", queues.port)]
    assert "queue-secret" not in done.stderr + done.stdout
    assert queues.client().smembers("rq:workers") == set()


def test_rq_cron_refuses_to_start_on_an_allkeys_lru_queue_redis(evicting):
    queues, env = evicting
    done = run(["app.jobs.cron"], env)

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [refusal("rq cron", queues.port)]
    assert queues.client().zcard("rq:cron_schedulers") == 0


def test_a_worker_waiting_for_its_queue_redis_refuses_an_allkeys_lru_one(evicting):
    queues, env = evicting
    done = run(["app.jobs.wait_for_queue", "rq", "worker", QUEUE_LIVE], env)

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [refusal("rq worker", queues.port)]


def test_enqueueing_refuses_an_allkeys_lru_queue_redis_and_queues_nothing(evicting):
    queues, env = evicting
    done = run(["app.jobs", "enqueue", "watchdog"], env)

    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        refusal("x", queues.port).replace("error: x refuses to start: ", "error: enqueue failed: ")
    ]
    assert Queue(QUEUE_MAINTENANCE, connection=queues.client()).count == 0


def test_a_worker_says_so_in_one_line_when_the_queue_redis_is_unreachable(start_redis):
    cache = start_redis(CACHE_CONFIG)
    queues = start_redis({"maxmemory-policy": "noeviction"}, password="queue-secret")
    env = job_env(cache, queues)
    queues.stop()
    done = run(["rq.cli", *worker_argv(queues.url, [QUEUE_LIVE])], env)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "queue-secret" not in done.stderr
