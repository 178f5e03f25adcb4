"""Fixtures of the predictions service tests: seeded database, apps, query counting."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from flask import Flask

from app import config, seed_data
from app.config import Settings
from app.web import close_app, create_app
from app.web.query import QUERY_TAG

NOW = dt.datetime(2026, 1, 24, 12, 0, tzinfo=dt.UTC)


def seed(database_url: str) -> None:
    seed_data.load(database_url, matches=200, predictions=3000, live=5, seed=7, now=NOW)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")


@pytest.fixture(scope="module")
def api_database_url(migrated_database_url: str) -> str:
    """A migrated database with 3000 predictions on 200 matches."""
    seed(migrated_database_url)
    return migrated_database_url


def settings_for(database_url: str, redis_url: str, **overrides: object) -> Settings:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "RQ_REDIS_URL": redis_url}
    return config.load(env | {name: str(value) for name, value in overrides.items()})


def predictions_queries(database_url: str) -> int:
    """How many times PostgreSQL ran the predictions query in this database (server side)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid "
            "WHERE d.datname = current_database() AND s.query LIKE %s",
            [f"%{QUERY_TAG}%"],  # a parameter, so this query does not count itself
        ).fetchone()
    return int(row[0])


@pytest.fixture
def count_queries(api_database_url: str) -> Callable[[], int]:
    """Predictions queries PostgreSQL ran since this fixture was set up."""
    start = predictions_queries(api_database_url)
    return lambda: predictions_queries(api_database_url) - start


@pytest.fixture
def make_app() -> Iterator[Callable[..., Flask]]:
    """Build apps on given settings; their pools and clients are closed afterwards."""
    apps: list[Flask] = []

    def make(settings: Settings, **kwargs: object) -> Flask:
        app = create_app(settings, **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture
def api_app(make_app, api_database_url: str, redis_url: str) -> Flask:
    """The app on the seeded database and an empty Redis, default settings."""
    return make_app(settings_for(api_database_url, redis_url))


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
