"""What a job needs to talk to the world: settings, a small PostgreSQL pool, Redis.

Every RQ job runs in a freshly forked work horse, so each job opens its own
context and closes it when done; nothing is shared across a fork.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import redis
from psycopg_pool import ConnectionPool

from app import config
from app.infra import job_stats, queue_redis
from app.infra.database import new_pool
from app.infra.names import WORKER
from app.infra.refusal import is_too_many_clients


@dataclass
class JobContext:
    settings: config.Settings
    pool: ConnectionPool
    redis: redis.Redis

    def close(self) -> None:
        self.pool.close()
        self.redis.close()

    @contextmanager
    def locking_transaction(self) -> Iterator[psycopg.Connection]:
        """A pooled connection in a transaction whose waits for a row lock end after
        ORCHESTRATOR_LOCK_TIMEOUT_MS, so a row held elsewhere makes that match busy
        instead of stalling the job. The limit is local to the transaction: behind a
        transaction pooler the server connection serves another client after COMMIT."""
        lock_timeout = f"{self.settings.ORCHESTRATOR_LOCK_TIMEOUT_MS}ms"
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (lock_timeout,))
            yield conn

    def count_if_refused(self, exc: BaseException) -> None:
        """Count a query refused for lack of a connection slot (connects count themselves)."""
        if isinstance(exc, psycopg.Error) and is_too_many_clients(exc):
            job_stats.record_refusal(self.redis, "query")


def open_context(settings: config.Settings | None = None) -> JobContext:
    """Open a context from `settings` (default: the environment); the caller closes it."""
    settings = settings or config.load()
    # The jobs' locks and stats live with the queues: on a Redis that never evicts.
    client = queue_redis.connect(settings, timeout_s=5)
    pool = new_pool(
        settings,
        WORKER,
        settings.JOB_DB_MAX_CONNECTIONS,
        lambda: job_stats.record_refusal(client, "connect"),
        min_size=1,
        kwargs={"connect_timeout": 5},
    )
    # Do not wait for the first connection here: a database that is down must
    # surface as a PoolTimeout inside the job, where it is counted and retried.
    pool.open(wait=False)
    return JobContext(settings, pool, client)


@contextmanager
def job_context(settings: config.Settings | None = None) -> Iterator[JobContext]:
    ctx = open_context(settings)
    try:
        yield ctx
    finally:
        ctx.close()
