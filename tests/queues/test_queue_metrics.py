"""/metrics reads the queue Redis: memory against maxmemory, length and oldest-job age per queue."""

from __future__ import annotations

import socket
import time

import pytest
from rq import Queue, Worker
from rq.cron import CronScheduler

from app import config
from app.infra.names import QUEUE_LIVE, QUEUE_MAINTENANCE
from app.web import close_app, create_app
from tests.support.prometheus import sample_value
from tests.support.queues import CACHE_CONFIG, QUEUE_CONFIG, job_env


@pytest.fixture
def servers(start_redis):
    return start_redis(CACHE_CONFIG), start_redis(QUEUE_CONFIG, password="queue-secret")


def scrape(settings: config.Settings) -> str:
    app = create_app(settings)
    try:
        return app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        close_app(app)


def test_metrics_show_each_queues_length_and_oldest_job_age_and_the_queue_redis_memory(
    servers, migrated_database_url
):
    cache, queues = servers
    queue = Queue(QUEUE_MAINTENANCE, connection=queues.client())
    for n in range(3):
        queue.enqueue("tests.queues.jobs.record", n)
    time.sleep(1.5)
    queue.enqueue("tests.queues.jobs.record", 3)  # a young job behind the old ones

    text = scrape(config.load(job_env(cache, queues, DATABASE_URL=migrated_database_url)))

    assert sample_value(text, "goalgpt_queue_redis_up") == 1
    assert sample_value(text, "goalgpt_queue_length", queue=QUEUE_MAINTENANCE) == 4
    assert sample_value(text, "goalgpt_queue_length", queue=QUEUE_LIVE) == 0
    assert (
        1.5
        <= sample_value(text, "goalgpt_queue_oldest_job_age_seconds", queue=QUEUE_MAINTENANCE)
        < 30
    )
    assert sample_value(text, "goalgpt_queue_oldest_job_age_seconds", queue=QUEUE_LIVE) == 0
    assert sample_value(text, "goalgpt_queue_redis_maxmemory_bytes") == 64 * 1024 * 1024
    used = sample_value(text, "goalgpt_queue_redis_used_memory_bytes")
    assert used == pytest.approx(queues.client().info("memory")["used_memory"], rel=0.5)
    assert sample_value(text, "goalgpt_queue_redis_noeviction") == 1


def test_an_evicting_or_missing_queue_redis_shows_in_the_metrics(
    start_redis, migrated_database_url
):
    cache = start_redis(CACHE_CONFIG)
    evicting = start_redis({"maxmemory-policy": "allkeys-lru"})
    settings = config.load(job_env(cache, evicting, DATABASE_URL=migrated_database_url))

    assert sample_value(scrape(settings), "goalgpt_queue_redis_noeviction") == 0
    evicting.stop()
    text = scrape(settings)
    assert sample_value(text, "goalgpt_queue_redis_up") == 0
    assert sample_value(text, "goalgpt_dependency_up", dependency="queue_redis") == 0


def test_metrics_show_the_schedulers_heartbeat_and_the_workers_of_each_host(
    servers, migrated_database_url
):
    cache, queues = servers
    settings = config.load(job_env(cache, queues, DATABASE_URL=migrated_database_url))
    client = queues.client()
    assert sample_value(scrape(settings), "goalgpt_cron_last_heartbeat_timestamp_seconds") == 0

    scheduler = CronScheduler(connection=client, name="worker-1:42:abc")
    scheduler.register_birth()
    for name in ("a", "b"):
        Worker([QUEUE_LIVE], connection=client, name=name).register_birth()
    text = scrape(settings)

    beat = sample_value(text, "goalgpt_cron_last_heartbeat_timestamp_seconds")
    assert time.time() - 30 < beat <= time.time()
    assert (
        sample_value(text, "goalgpt_cron_heartbeat_timestamp_seconds", scheduler="worker-1:42:abc")
        == beat
    )
    assert sample_value(text, "goalgpt_rq_workers", host=socket.gethostname()) == 2
