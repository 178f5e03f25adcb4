"""The queue Redis killed or restarted: jobs survive (AOF), workers are counted again."""

from __future__ import annotations

import re
import time

from rq import Queue
from rq.job import Job

from app.infra.names import QUEUE_MAINTENANCE
from app.jobs import worker_command
from tests.queues.jobs import RAN
from tests.support.processes import run_module
from tests.support.queues import CACHE_CONFIG, QUEUE_CONFIG, job_env
from tests.support.rq_worker import worker_argv
from tests.support.waiting import wait_for

JOBS = 50
AOF_WINDOW_S = 1.0  # appendfsync everysec: at most the last second is lost on a crash


def test_jobs_enqueued_before_a_sigkill_of_the_queue_redis_are_kept_and_run(start_redis, rq):
    cache = start_redis(CACHE_CONFIG)
    queues = start_redis(QUEUE_CONFIG, password="queue-secret")
    client = queues.client()
    queue = Queue(QUEUE_MAINTENANCE, connection=client)
    ids = [queue.enqueue("tests.queues.jobs.record", n).id for n in range(JOBS)]
    time.sleep(AOF_WINDOW_S + 1)  # past the fsync window

    queues.kill()
    queues.start()

    client = queues.client()
    assert Queue(QUEUE_MAINTENANCE, connection=client).job_ids == ids
    worker = rq(worker_argv(queues.url, [QUEUE_MAINTENANCE], burst=True), job_env(cache, queues))
    assert worker.wait(timeout=120) == 0, worker.log()
    assert {int(n) for n in client.smembers(RAN)} == set(range(JOBS))


def deployed_worker(url: str) -> list[str]:
    """The role's worker command line (after the program), on the Redis at `url`."""
    command, *flags = worker_command.argv()[1:]
    return [command, "--url", url, *flags]


def rq_info_workers(url: str) -> int:
    """The worker count `rq info` prints ("2 workers, 2 queues")."""
    done = run_module("rq.cli", "info", "--url", url, "--only-workers", timeout=30)
    found = re.search(r"^(\d+) workers?,", done.stdout, re.M)
    assert found, done.stdout + done.stderr
    return int(found[1])


def test_after_the_queue_redis_lost_its_keys_rq_info_counts_every_worker_within_a_minute(
    start_redis, rq
):
    cache = start_redis(CACHE_CONFIG)
    # No persistence: a restart forgets every key, as a failover to an empty replica would.
    queues = start_redis({"maxmemory-policy": "noeviction"}, password="queue-secret")
    argv = deployed_worker(queues.url)
    for _ in range(2):
        rq(argv, job_env(cache, queues))
    wait_for(lambda: rq_info_workers(queues.url) == 2, 30, "two workers to register")

    queues.stop()
    queues.start()  # empty: RQ's worker registry is gone

    started = time.monotonic()
    wait_for(lambda: rq_info_workers(queues.url) == 2, 60, "both workers to register again", 1)
    print(f"re-registered after {time.monotonic() - started:.1f}s")


def test_a_job_running_when_the_queue_redis_crashed_is_failed_visibly_not_lost(start_redis, rq):
    cache = start_redis(CACHE_CONFIG)
    queues = start_redis(QUEUE_CONFIG, password="queue-secret")
    argv = deployed_worker(queues.url)
    env = job_env(cache, queues)
    workers = [rq(argv, env) for _ in range(2)]  # one takes the job, the other idles
    wait_for(lambda: rq_info_workers(queues.url) == 2, 30, "two workers to register")
    queue = Queue(QUEUE_MAINTENANCE, connection=queues.client())
    job = queue.enqueue("tests.queues.jobs.sleep", 4, job_timeout=30)
    wait_for(lambda: job.get_status(refresh=True) == "started", 30, "the job to start")
    time.sleep(AOF_WINDOW_S + 0.5)  # its start is on disk

    queues.kill()
    time.sleep(6)  # the job ends while its Redis is down: its result cannot be written
    queues.start()

    # The busy worker gives up on its lost connection (supervisord or systemd would start
    # it again); the idle one reconnects, and its maintenance finds the abandoned job.
    job = Job.fetch(job.id, connection=queues.client())
    try:
        wait_for(lambda: job.get_status(refresh=True) == "failed", 60, "the job to fail", 1)
    except AssertionError:
        raise AssertionError("\n".join(worker.log() for worker in workers)) from None
    assert "AbandonedJobError" in job.latest_result().exc_string
    assert job.id in queue.failed_job_registry
