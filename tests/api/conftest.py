"""Fixtures of the predictions service tests: seeded database, apps, query counting."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import psycopg
import pytest
from flask import Flask

from app.config import Settings
from app.web import close_app, create_app
from app.web.query import QUERY_TAG
from tests.support.predictions import seed, settings_for


@pytest.fixture(scope="module")
def api_database_url(migrated_database_url: str) -> str:
    """A migrated database with 3000 predictions on 200 matches."""
    seed(migrated_database_url)
    return migrated_database_url


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
