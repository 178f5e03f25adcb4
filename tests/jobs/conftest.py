"""Fixtures for the job tests: a migrated database, settings, match rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from app import config
from app.jobs.context import JobContext, job_context


@pytest.fixture(scope="module")
def baseline_database_url(database_url: str) -> str:
    """The module's database at the 0001 schema: the jobs must work without half-stats."""
    from app.migrations import apply

    apply(database_url, target="0001_initial")
    return database_url


@pytest.fixture
def db(baseline_database_url: str) -> str:
    """The module's 0001-schema database, emptied for this test."""
    with psycopg.connect(baseline_database_url) as conn:
        conn.execute("TRUNCATE predictions, ts_matches")
    return baseline_database_url


@pytest.fixture
def make_env(redis_url: str) -> Callable[..., dict[str, str]]:
    """Environment for a job process: the test's servers plus setting overrides."""

    def make(database_url: str, **overrides: Any) -> dict[str, str]:
        env = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "RQ_REDIS_URL": redis_url,
            "POOL_TIMEOUT_S": "2",
        }
        return env | {name: str(value) for name, value in overrides.items()}

    return make


@pytest.fixture
def make_ctx(make_env) -> Iterator[Callable[..., JobContext]]:
    """Open job contexts in the test process; all are closed at the end."""
    opened = []

    def make(database_url: str, **overrides: Any) -> JobContext:
        manager = job_context(config.load(make_env(database_url, **overrides)))
        opened.append(manager)
        return manager.__enter__()

    yield make
    for manager in opened:
        manager.__exit__(None, None, None)
