"""Schema migrations: yoyo files in `sql/`, applied in order, safe on a busy database.

`python -m app.migrations status|apply|rollback|verify` is the operator's CLI.

How a run stays online-safe:
- one run at a time per database (`guard.exclusive_run`: advisory lock, stale
  `yoyo_lock` rows cleared);
- transactional migrations run with `lock_timeout`: an ALTER that cannot get its
  lock gives up quickly (rolling back whole) instead of queueing every writer
  behind it, and is retried a few times with growing pauses;
- non-transactional migrations (CREATE INDEX CONCURRENTLY) handle their own
  waiting and invalid leftovers (see 0003).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
from yoyo import get_backend, read_migrations
from yoyo.backends import DatabaseBackend
from yoyo.migrations import Migration, MigrationList

from app.migrations.guard import (
    APPLICATION_NAME,
    CLIENT_CHECK_INTERVAL_MS,
    MigrationBlocked,
    exclusive_run,
)

SQL_DIR = Path(__file__).parent / "sql"
# Rolling this back would drop every table: never offered.
BASELINE = "0001_initial"

log = logging.getLogger("app.migrations")

__all__ = [
    "BASELINE",
    "LockPolicy",
    "MigrationBlocked",
    "MigrationState",
    "apply",
    "rollback",
    "status",
]


@dataclass(frozen=True)
class MigrationState:
    id: str
    applied: bool


@dataclass(frozen=True)
class LockPolicy:
    """How long a migration may wait for a table lock, and how often it tries."""

    timeout_ms: int = 2000
    retries: int = 5

    def pause_s(self, attempt: int) -> float:
        """Pause after failed attempt N: N x lock_timeout, so writers get growing windows."""
        return attempt * self.timeout_ms / 1000


def yoyo_url(database_url: str, **params: str) -> str:
    """The yoyo URL (psycopg 3 driver) with extra libpq parameters.

    yoyo runs each migration on a fresh connection made from this URL, so
    session settings for migrations must travel in it.
    """
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a postgresql:// URL: {parts.scheme or '(none)'}://...")
    query = dict(parse_qsl(parts.query))
    if "options" in query and "options" in params:
        params = params | {"options": f"{query['options']} {params['options']}"}
    query |= params
    url = parts._replace(scheme="postgresql+psycopg", query=urlencode(query))
    return url.geturl()


def _backend(database_url: str, policy: LockPolicy | None = None) -> DatabaseBackend:
    if policy is None:
        return get_backend(yoyo_url(database_url))
    options = (
        f"-c lock_timeout={policy.timeout_ms} "
        f"-c client_connection_check_interval={CLIENT_CHECK_INTERVAL_MS}"
    )
    return get_backend(yoyo_url(database_url, application_name=APPLICATION_NAME, options=options))


def _migrations() -> MigrationList:
    return read_migrations(str(SQL_DIR))


def _index_of(migrations: MigrationList, target: str) -> int:
    ids = [m.id for m in migrations]
    if target not in ids:
        raise ValueError(f"unknown migration {target!r}: known are {', '.join(ids)}")
    return ids.index(target)


def status(database_url: str) -> list[MigrationState]:
    """Every known migration, in order, and whether it is applied."""
    backend = _backend(database_url)
    try:
        return [MigrationState(m.id, backend.is_applied(m)) for m in _migrations()]
    finally:
        backend.connection.close()


def apply(
    database_url: str, target: str | None = None, policy: LockPolicy | None = None
) -> list[str]:
    """Apply what is pending (up to and including `target`); returns the ids applied.

    Raises MigrationBlocked when another run holds the lock or a table lock could
    not be taken in `policy.retries + 1` attempts; what was applied before stays.
    """
    policy = policy or LockPolicy()
    migrations = _migrations()
    if target is not None:
        migrations = migrations[: _index_of(migrations, target) + 1]
    applied = []
    with exclusive_run(database_url) as guard, _locked_backend(database_url, policy) as backend:
        for migration in backend.to_apply(migrations):
            log.info("applying %s", migration.id)
            started = time.monotonic()
            _retry_on_lock_timeout(
                lambda m=migration: backend.apply_one(m), migration, "apply", policy, guard
            )
            log.info("applied %s in %.2f s", migration.id, time.monotonic() - started)
            applied.append(migration.id)
    return applied


def rollback(
    database_url: str, target: str = BASELINE, policy: LockPolicy | None = None
) -> list[str]:
    """Roll back every applied migration after `target`, newest first; returns their ids.

    `target` itself stays; the earliest target is BASELINE, so it always stays.
    """
    policy = policy or LockPolicy()
    migrations = _migrations()
    keep = _index_of(migrations, target)
    rolled_back = []
    with exclusive_run(database_url) as guard, _locked_backend(database_url, policy) as backend:
        for migration in backend.to_rollback(migrations[keep + 1 :]):
            log.info("rolling back %s", migration.id)
            _retry_on_lock_timeout(
                lambda m=migration: backend.rollback_one(m), migration, "rollback", policy, guard
            )
            rolled_back.append(migration.id)
    return rolled_back


@contextmanager
def _locked_backend(database_url: str, policy: LockPolicy) -> Iterator[DatabaseBackend]:
    """A yoyo backend for migration work, holding yoyo's own lock row too.

    The row keeps a plain `yoyo apply` from running alongside; the advisory lock
    held by the caller is what protects our own runs.
    """
    backend = _backend(database_url, policy)
    try:
        with backend.lock():
            yield backend
    finally:
        backend.connection.close()


def _retry_on_lock_timeout(
    action: Callable[[], None],
    migration: Migration,
    direction: str,
    policy: LockPolicy,
    guard: psycopg.Connection,
) -> None:
    attempts = policy.retries + 1
    for attempt in range(1, attempts + 1):
        try:
            action()
            return
        except psycopg.errors.LockNotAvailable:
            if attempt == attempts:
                undone = "rolled back whole" if migration.use_transactions else "stopped"
                raise MigrationBlocked(
                    f"{direction} of {migration.id} could not take its table lock within "
                    f"{policy.timeout_ms} ms in {attempts} attempts and was {undone}; "
                    f"{_oldest_transaction(guard)}; run again when it has ended"
                ) from None
            pause = policy.pause_s(attempt)
            log.warning(
                "%s: lock not granted within %d ms (attempt %d of %d), retrying in %.1f s",
                migration.id,
                policy.timeout_ms,
                attempt,
                attempts,
                pause,
            )
            time.sleep(pause)


def _oldest_transaction(conn: psycopg.Connection) -> str:
    """Who most likely holds the lock: the oldest open transaction but ours."""
    row = conn.execute(
        """
        SELECT pid, coalesce(nullif(application_name, ''), 'unnamed client'), state,
               extract(epoch FROM now() - xact_start)::int,
               left(regexp_replace(query, '\\s+', ' ', 'g'), 60)
        FROM pg_stat_activity
        WHERE datname = current_database() AND xact_start IS NOT NULL
          AND pid <> pg_backend_pid() AND application_name <> %s
        ORDER BY xact_start LIMIT 1
        """,
        (APPLICATION_NAME,),
    ).fetchone()
    if row is None:
        return "no other transaction is open now"
    pid, app, state, age, query = row
    return f"oldest open transaction: pid {pid} ({app}, {state}, open {age} s: {query})"
