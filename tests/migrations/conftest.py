"""Fixtures of the migration tests: a fresh database per test, at the baseline schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app import migrations
from tests.migrations.helpers import insert_matches
from tests.support.databases import create_database, drop_database
from tests.support.servers import PostgresServer


@pytest.fixture
def baseline_url(pg_server: PostgresServer) -> Iterator[str]:
    """A database of its own for one test with only 0001_initial applied, and a few matches."""
    name = create_database(pg_server)
    url = pg_server.url(name)
    migrations.apply(url, target=migrations.BASELINE)
    insert_matches(url, 1000)
    yield url
    drop_database(pg_server, name)
