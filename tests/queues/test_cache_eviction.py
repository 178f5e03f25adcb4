"""The cache filled far past its maxmemory while jobs wait: no job is lost.

Before this, the cache and the queues shared one allkeys-lru Redis, and a full
cache evicted RQ's keys without an error anywhere (20 of 20 jobs gone).
"""

from __future__ import annotations

import redis
from rq import Queue
from rq.job import Job

from app import config
from app.cache.keys import PREFIX
from app.infra import queue_redis
from app.infra.names import QUEUE_MAINTENANCE
from app.jobs.queues import enqueue_job
from app.web import close_app, create_app
from tests.support.queues import CACHE_CONFIG, QUEUE_CONFIG, job_env

JOBS = 20
ENTRIES = 3000  # of 2 KiB each: about twice the cache's 3 MB
BODY = b"x" * 2048


def test_a_cache_filled_far_past_its_maxmemory_leaves_every_waiting_job_queued(
    start_redis, migrated_database_url
):
    cache = start_redis(CACHE_CONFIG, password="cache-secret")
    queues = start_redis(QUEUE_CONFIG, password="queue-secret")
    settings = config.load(
        job_env(
            cache,
            queues,
            DATABASE_URL=migrated_database_url,
            PREDICTIONS_CACHE_TTL_S="600",
            PREDICTIONS_LOCAL_CACHE_ENTRIES="0",  # every hit comes from the cache Redis
        )
    )
    client = queue_redis.connect(settings)
    jobs = [enqueue_job(client, "watchdog", settings) for _ in range(JOBS)]

    app = create_app(settings)
    try:
        shared = app.extensions["goalgpt"].cache
        for n in range(ENTRIES):
            shared.get(f"{PREFIX}fill:{n}", lambda _deadline: BODY)
        evicted = redis.Redis.from_url(cache.url).info("stats")["evicted_keys"]
        # Still serving: the newest entry is a hit, without calling the loader.
        last = shared.get(f"{PREFIX}fill:{ENTRIES - 1}", _never_called)
    finally:
        close_app(app)

    assert evicted > ENTRIES / 3, "the cache never filled: the test proves nothing"
    assert last.result == "hit" and last.body == BODY
    assert Queue(QUEUE_MAINTENANCE, connection=client).count == JOBS
    assert all(client.exists(Job.key_for(job.id)) for job in jobs)
    assert client.info("stats")["evicted_keys"] == 0


def _never_called(_deadline: float) -> bytes:
    raise AssertionError("the cache did not serve the entry")


def test_the_same_fill_on_one_shared_allkeys_lru_redis_loses_queued_jobs(start_redis):
    """Why there are two: the old layout, where enqueueing is now refused."""
    shared_redis = start_redis(CACHE_CONFIG)
    client = shared_redis.client()
    queue = Queue(QUEUE_MAINTENANCE, connection=client)
    jobs = [queue.enqueue("tests.queues.jobs.record", n) for n in range(JOBS)]

    for n in range(ENTRIES):
        client.set(f"{PREFIX}fill:{n}", BODY)

    assert client.info("stats")["evicted_keys"] > 0
    kept = sum(bool(client.exists(Job.key_for(job.id))) for job in jobs)
    assert queue.count < JOBS or kept < JOBS
