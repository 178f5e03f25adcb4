"""The job runtime settings this part adds to the central config."""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
import pytest
from psycopg_pool import PoolTimeout

from app import config
from app.infra.names import WORKER
from app.jobs.runner import transient_retry


def test_job_runtime_defaults():
    settings = config.load({})
    assert settings.JOB_LOCK_LEASE_S == 30
    assert (settings.JOB_RETRY_MAX, settings.JOB_RETRY_INTERVAL_S) == (3, 10)
    assert settings.WORKER_HEARTBEAT_GRACE_S == 15
    assert settings.WATCHDOG_STALE_AFTER_S == 600
    assert settings.WATCHDOG_FULL_TIME_AFTER_MIN == 150
    assert settings.DATA_COMPLETENESS_BATCH_SIZE == 500
    assert config.summary(settings)["JOBS"]["JOB_LOCK_LEASE_S"] == 30


@pytest.mark.parametrize(
    ("name", "bad", "allowed"),
    [
        ("JOB_LOCK_LEASE_S", "0", "a whole number from 1 to 600"),
        ("JOB_RETRY_MAX", "21", "a whole number from 0 to 20"),
        ("JOB_RETRY_INTERVAL_S", "-1", "a whole number from 0 to 600"),
        ("WORKER_HEARTBEAT_GRACE_S", "ten", "a whole number from 1 to 600"),
        ("WATCHDOG_STALE_AFTER_S", "59", "a whole number from 60 to 86400"),
        ("WATCHDOG_FULL_TIME_AFTER_MIN", "99", "a whole number from 100 to 1440"),
        ("DATA_COMPLETENESS_BATCH_SIZE", "0", "a whole number from 1 to 10000"),
    ],
)
def test_an_out_of_range_job_setting_stops_with_one_line_naming_it(name, bad, allowed):
    with pytest.raises(config.ConfigError) as error:
        config.load({name: bad})
    assert str(error.value) == f"invalid {name}={bad!r}: must be {allowed}"


def test_the_retry_backoff_doubles_from_the_configured_interval():
    retry = transient_retry(config.load({"JOB_RETRY_MAX": "4", "JOB_RETRY_INTERVAL_S": "5"}))
    assert (retry.max, retry.intervals) == (4, [5, 10, 20, 40])


def test_a_job_holds_its_own_pool_whatever_the_web_pool_size(make_ctx, db):
    # raise_pool restarts only the web processes: workers never read DB_MAX_CONNECTIONS.
    ctx = make_ctx(db, DB_MAX_CONNECTIONS="1", JOB_DB_MAX_CONNECTIONS="3")

    with ExitStack() as held:
        for _ in range(3):
            held.enter_context(ctx.pool.connection(timeout=10))
        with psycopg.connect(db) as watcher:
            (workers,) = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [WORKER]
            ).fetchone()
        with pytest.raises(PoolTimeout):
            ctx.pool.getconn(timeout=0.2)  # a fourth: the job pool is full at 3

    assert workers == 3
