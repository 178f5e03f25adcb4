"""What a job needs to talk to the world: settings, a small PostgreSQL pool, Redis.

Every RQ job runs in a freshly forked work horse, so each job opens its own
context and closes it when done; nothing is shared across a fork.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import redis
from psycopg_pool import ConnectionPool, PoolTimeout

from app import config
from app.db import WORKER as APPLICATION_NAME
from app.jobs import stats
from app.refusal import counting_connection, is_too_many_clients

# Errors that say "the database or Redis is unreachable right now", not "this is wrong".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
)


class DatabaseUnavailable(Exception):
    """The database could not be reached; the whole job should be retried later."""


@dataclass
class JobContext:
    settings: config.Settings
    pool: ConnectionPool
    redis: redis.Redis

    def close(self) -> None:
        self.pool.close()
        self.redis.close()

    def count_if_refused(self, exc: BaseException) -> None:
        """Count a query refused for lack of a connection slot (connects count themselves)."""
        if isinstance(exc, psycopg.Error) and is_too_many_clients(exc):
            stats.record_refusal(self.redis, "query")


def open_context(settings: config.Settings | None = None) -> JobContext:
    """Open a context from `settings` (default: the environment); the caller closes it."""
    settings = settings or config.load()
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    pool = ConnectionPool(
        settings.DATABASE_URL,
        connection_class=counting_connection(lambda: stats.record_refusal(client, "connect")),
        min_size=1,
        max_size=settings.JOB_DB_MAX_CONNECTIONS,
        timeout=settings.POOL_TIMEOUT_S,
        kwargs={"application_name": APPLICATION_NAME, "connect_timeout": 5},
        configure=_session_setup(settings),
        name=APPLICATION_NAME,
        open=False,
    )
    # Do not wait for the first connection here: a database that is down must
    # surface as a PoolTimeout inside the job, where it is counted and retried.
    pool.open(wait=False)
    return JobContext(settings, pool, client)


def _session_setup(settings: config.Settings) -> Callable[[psycopg.Connection], None]:
    """Per connection, once: waits for a row lock end after ORCHESTRATOR_LOCK_TIMEOUT_MS,
    so a row held elsewhere makes that match busy instead of stalling the job."""
    lock_timeout = f"{settings.ORCHESTRATOR_LOCK_TIMEOUT_MS}ms"

    def configure(conn: psycopg.Connection) -> None:
        conn.execute("SELECT set_config('lock_timeout', %s, false)", (lock_timeout,))
        conn.commit()

    return configure


@contextmanager
def job_context(settings: config.Settings | None = None) -> Iterator[JobContext]:
    ctx = open_context(settings)
    try:
        yield ctx
    finally:
        ctx.close()
