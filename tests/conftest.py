"""Fixtures that own real servers and processes: PostgreSQL, Redis and rq started for this
run."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest
import redis

from tests.support.checks import write_thresholds
from tests.support.databases import create_database, drop_database
from tests.support.leftovers import reap
from tests.support.rq_worker import RQProcess, rq_processes
from tests.support.servers import PostgresServer, RedisServer
from tests.support.started import stopped_at_end
from tests.support.worker_groups import OneWorkerPerSharedFixture, misplaced, run_order

if TYPE_CHECKING:
    from tests.lab import Lab


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> OneWorkerPerSharedFixture:
    return OneWorkerPerSharedFixture(config, log)


def pytest_itemcollected(item: pytest.Item) -> None:
    problem = misplaced(item.nodeid, getattr(item, "fixturenames", []))
    if problem:
        raise pytest.UsageError(problem)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: run_order(item.nodeid))  # stable: file order otherwise


def pytest_sessionstart(session: pytest.Session) -> None:
    """Remove the servers and directories of an earlier run that was killed."""
    # Started in the background (`make test &`, nohup), the shell hands us SIGINT
    # ignored, and every command a test runs would inherit that: the Ctrl-C tests would
    # test nothing. A handler of our own is reset to the default in the children.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for path in reap():
        print(f"removed what a killed test run left: {path}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The shared throwaway PostgreSQL of this test run (max_connections 100)."""
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def start_postgres() -> Iterator[Callable[..., PostgresServer]]:
    """Start an extra PostgreSQL with its own settings, e.g. a tiny max_connections."""

    def start(max_connections: int = 100, **settings: str) -> PostgresServer:
        return PostgresServer(max_connections=max_connections, settings=settings).start()

    with stopped_at_end(start) as started:
        yield started


@pytest.fixture(scope="module")
def database_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test module."""
    name = create_database(pg_server)
    yield pg_server.url(name)
    drop_database(pg_server, name)


@pytest.fixture(scope="module")
def migrated_database_url(database_url: str) -> str:
    """A fresh database for one test module with every migration applied."""
    from app.migrations import apply

    apply(database_url)
    return database_url


@pytest.fixture
def thresholds_file(tmp_path) -> Callable[..., str]:
    """Write the shipped thresholds with some values changed; returns the path."""
    return lambda **changes: write_thresholds(tmp_path, **changes)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The shared Redis, emptied for this test."""
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


@pytest.fixture
def rq() -> Iterator[Callable[..., RQProcess]]:
    """Start `rq` processes (rq_worker.RQProcess); all stopped after the test."""
    with rq_processes() as start:
        yield start


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The fleet lab (GOALGPT_LAB_ID, default 0), booted once per run for every test that
    asks; torn down at the end, even on failure. A lab already there (`make lab-up`) is
    reused (its stopped hosts started) and left up. A test that breaks a host puts it
    back with lab.restore(host)."""
    from tests.lab import Lab

    lab = Lab()
    if lab.is_present():
        lab.up()
        yield lab
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        lab.up()
        yield lab
    finally:
        lab.down()
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    # A terminated run (CI timeout) still runs the lab's teardown; SIGKILL cannot be
    # caught, and the next `lab up` removes what such a run left.
    raise KeyboardInterrupt
