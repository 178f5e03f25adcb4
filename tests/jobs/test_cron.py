"""The scheduler (`python -m app.jobs.cron`) registers every job with the configured strings."""

from __future__ import annotations

import os

import psycopg
import redis
from rq.cron import CronScheduler

from app import config
from app.infra.names import QUEUE_LIVE, QUEUE_MAINTENANCE
from app.jobs import cron
from tests.jobs.matches import add_long_over_match, match_rows
from tests.support.processes import run_module
from tests.support.rq_worker import worker_argv
from tests.support.waiting import wait_for

CONFIGURED = {
    "MATCH_MINUTE_CRON": "*/2 * * * *",
    "MATCH_MINUTE_TIMEOUT_MS": "90500",
    "MATCH_WATCHDOG_CRON": "*/7 * * * *",
    "MATCH_WATCHDOG_TIMEOUT_MS": "240000",
    "DATA_COMPLETENESS_CRON": "15 3 * * *",
    "DATA_COMPLETENESS_TIMEOUT_MS": "60000",
}
EXPECTED = {
    "match_minute": ("app.jobs.match_minute.tick", QUEUE_LIVE, "*/2 * * * *", 91),
    "watchdog": ("app.jobs.watchdog.run", QUEUE_MAINTENANCE, "*/7 * * * *", 240),
    "data_completeness": ("app.jobs.data_completeness.run", QUEUE_MAINTENANCE, "15 3 * * *", 60),
}


def _load(make_env, db: str, **env: str) -> CronScheduler:
    settings = config.load(make_env(db, **env))
    return cron.scheduler(redis.Redis.from_url(settings.RQ_REDIS_URL), settings)


def test_the_scheduler_registers_every_job_with_the_configured_cron_and_timeout(db, make_env):
    scheduler = _load(make_env, db, **CONFIGURED)
    registered = {
        job.name: (job.func_name, job.queue_name, job.cron, job.job_options["job_timeout"])
        for job in scheduler.get_jobs()
    }
    assert registered == EXPECTED


def test_the_defaults_are_every_minute_every_five_minutes_and_every_ten(db, make_env, monkeypatch):
    for name in CONFIGURED:
        monkeypatch.delenv(name, raising=False)
    scheduler = _load(make_env, db)
    crons = {job.name: job.cron for job in scheduler.get_jobs()}
    assert crons == {
        "match_minute": "* * * * *",
        "watchdog": "*/5 * * * *",
        "data_completeness": "*/10 * * * *",
    }


def test_a_real_scheduler_process_publishes_the_configured_schedule(db, make_env, rq, redis_url):
    connection = redis.Redis.from_url(redis_url)
    rq([], make_env(db, **CONFIGURED), module="app.jobs.cron")

    (scheduler,) = wait_for(lambda: CronScheduler.all(connection), 30, "rq cron to register")

    published = {
        job.name: (job.func_name, job.queue_name, job.cron) for job in scheduler._cron_jobs
    }
    assert published == {name: spec[:3] for name, spec in EXPECTED.items()}


def test_the_scheduler_stops_with_one_line_naming_a_bad_cron_value(db, make_env):
    env = make_env(db, MATCH_WATCHDOG_CRON="every five minutes")
    done = run_module("app.jobs.cron", env={**os.environ, **env}, timeout=60)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("config error")]
    assert errors == [
        "config error: invalid MATCH_WATCHDOG_CRON='every five minutes': "
        "must be a five-field cron expression such as '*/5 * * * *'"
    ]
    assert "Traceback" not in done.stderr


def test_a_job_enqueued_by_the_cron_schedule_runs_on_a_real_worker_with_its_timeout(
    db, make_env, rq, redis_url
):
    with psycopg.connect(db) as conn:
        add_long_over_match(conn)
    scheduler = _load(make_env, db, **CONFIGURED)
    (watchdog,) = [job for job in scheduler.get_jobs() if job.name == "watchdog"]

    job = watchdog.enqueue(scheduler.connection)
    worker = rq(worker_argv(redis_url, [QUEUE_MAINTENANCE], burst=True), make_env(db))
    assert worker.wait(timeout=60) == 0

    assert job.timeout == 240
    assert job.get_status(refresh=True) == "finished", worker.log()
    assert job.return_value()["updated"] == 1
    assert match_rows(db, "status")["longover01"] == ("finished",)
