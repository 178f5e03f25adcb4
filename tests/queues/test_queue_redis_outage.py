"""The scheduler and the workers outlive an outage of the queue Redis by themselves.

Started while it is down they wait instead of exiting (a process manager gives up on
quick exits: systemd's start limit, supervisord's FATAL); the running scheduler that
loses it waits and registers again, in the same process, as exactly one scheduler.
"""

from __future__ import annotations

import time

from rq import Queue

from app.infra import fleet_registry
from app.infra.names import QUEUE_MAINTENANCE
from app.jobs import worker_command
from tests.queues.jobs import RAN
from tests.queues.test_queue_redis_restart import rq_info_workers
from tests.support.queues import CACHE_CONFIG, QUEUE_CONFIG, job_env
from tests.support.waiting import wait_for


def running_schedulers(queues) -> list[str]:
    return fleet_registry.read(queues.client()).running_schedulers(time.time())


def logged(process, text: str) -> bool:
    return text in process.log()


def test_a_scheduler_started_while_the_queue_redis_is_down_waits_then_schedules(start_redis, rq):
    cache = start_redis(CACHE_CONFIG)
    queues = start_redis(QUEUE_CONFIG, password="queue-secret")
    queues.stop(keep_data=True)

    cron = rq([], job_env(cache, queues), module="app.jobs.cron")
    wait_for(lambda: logged(cron, "rq cron: waiting for the queue Redis"), 30, "the wait")
    assert cron.process.poll() is None, cron.log()
    assert "queue-secret" not in cron.log()

    queues.start()

    wait_for(lambda: len(running_schedulers(queues)) == 1, 30, "one scheduler to register")
    assert cron.process.poll() is None, cron.log()
    assert "Traceback" not in cron.log()


def test_a_running_scheduler_that_loses_the_queue_redis_comes_back_as_one_in_the_same_process(
    start_redis, rq
):
    cache = start_redis(CACHE_CONFIG)
    queues = start_redis(QUEUE_CONFIG, password="queue-secret")
    cron = rq([], job_env(cache, queues), module="app.jobs.cron")
    (before,) = wait_for(lambda: running_schedulers(queues), 30, "the scheduler to register")

    queues.kill()  # its data (with the registration) comes back from the append-only file
    wait_for(lambda: logged(cron, "rq cron: lost the queue Redis"), 30, "the loss to be seen")
    queues.start()

    # Its old registration came back with the data: wait for the new one.
    (after,) = wait_for(
        lambda: set(running_schedulers(queues)) - {before}, 30, "a scheduler to register again"
    )
    assert cron.process.poll() is None, cron.log()
    assert set(fleet_registry.read(queues.client()).schedulers) == {after}


def test_a_worker_started_while_the_queue_redis_is_down_waits_then_runs_jobs(start_redis, rq):
    cache = start_redis(CACHE_CONFIG)
    queues = start_redis(QUEUE_CONFIG, password="queue-secret")
    queues.stop(keep_data=True)
    module, *argv = worker_command.service_argv()[2:]  # after "python -m"

    worker = rq(argv, job_env(cache, queues), module=module)
    wait_for(lambda: logged(worker, "rq worker: waiting for the queue Redis"), 30, "the wait")
    assert worker.process.poll() is None, worker.log()

    queues.start()

    wait_for(lambda: rq_info_workers(queues.url) == 1, 30, "the worker to register")
    client = queues.client()
    Queue(QUEUE_MAINTENANCE, connection=client).enqueue("tests.queues.jobs.record", 7)
    wait_for(lambda: client.smembers(RAN) == {b"7"}, 30, "the job to run")
