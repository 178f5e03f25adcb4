"""The predictions service under test: seeded data, settings, a locked table."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psycopg

from app import config, seed_data
from app.config import Settings

NOW = dt.datetime(2026, 1, 24, 12, 0, tzinfo=dt.UTC)


def seed(database_url: str) -> None:
    seed_data.load(database_url, matches=200, predictions=3000, live=5, seed=7, now=NOW)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


def settings_for(database_url: str, redis_url: str, **overrides: object) -> Settings:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "RQ_REDIS_URL": redis_url}
    return config.load(env | {name: str(value) for name, value in overrides.items()})


def while_predictions_locked(database_url: str, fire: Callable[[], object], hold_s: float):
    """Run `fire` in a thread while the predictions table is locked for `hold_s` seconds.

    The one query that gets through waits on the lock, so every concurrent request
    really overlaps with it, however slowly the threads of a busy machine start.
    """
    with psycopg.connect(database_url) as blocker:
        blocker.execute("LOCK TABLE predictions IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(1) as pool:
            result = pool.submit(fire)
            time.sleep(hold_s)
            blocker.rollback()
            return result.result()
