"""The one way to change a match: validated, locked, one short transaction.

`update_match(match_id, changes)` never raises for bad input or a busy match:
an invalid id gets `rejected_invalid`, a match another updater holds gets
`rejected_locked`, a database that cannot be reached gets `failed`. Every
caller (jobs, tools, tests) gets this protection without checks of its own.

Two locks, on purpose: a Redis lock per match (token + expiry) so concurrent
updaters wait in Redis instead of holding database connections, and the row
lock of `SELECT ... FOR UPDATE` so that even an expired Redis lock cannot lose
an update: the changes are always compared with the row as it is now.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import psycopg
import redis
from psycopg import sql
from psycopg.types.json import Jsonb

from app.infra import keys
from app.infra.errors import UNAVAILABLE_ERRORS
from app.infra.errors import first_line as _first_line
from app.infra.lock import RedisLock
from app.jobs.context import JobContext, job_context
from app.jobs.match_changes import JSON_FIELDS, invalid_changes, invalid_expect, invalid_match_id

log = logging.getLogger(__name__)

Status = Literal["updated", "unchanged", "rejected_invalid", "rejected_locked", "failed"]

BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 1.0


# `reason` is one of these codes (for programs, stable); `detail` is the human text.
# An id naming no match is an invalid match id too (the Node.js service's `invalid_match_id`).
Reason = Literal[
    "invalid_match_id",
    "invalid_changes",
    "invalid_expect",
    "expectation_failed",
    "already_up_to_date",
    "stale_but_plausible",
    "match_locked",
    "row_locked",
    "conflict",
    "missing_column",
    "database_unavailable",
    "redis_unavailable",
    "database_error",
    "not_attempted",
]


@dataclass(frozen=True)
class UpdateResult:
    status: Status
    fields_updated: tuple[str, ...] = ()
    reason: Reason | None = None
    detail: str | None = None
    # True when the database could not be reached: the caller's whole job should retry.
    unavailable: bool = field(default=False, compare=False)

    @property
    def message(self) -> str:
        """'code: human text', for logs and exceptions."""
        return f"{self.reason}: {self.detail}" if self.detail else str(self.reason)


class _Busy(Exception):
    """The match is locked by another updater (in Redis or in the database)."""


def update_match(
    match_id: object,
    changes: Mapping[str, Any],
    *,
    expect: Mapping[str, Any] | None = None,
    ctx: JobContext | None = None,
) -> UpdateResult:
    """Apply `changes` to one match.

    `expect` names fields that must still hold their value when the row is locked
    (e.g. the status a job read); if one does not, nothing changes (`unchanged`).
    Busy matches and transient database errors are retried ORCHESTRATOR_MAX_RETRIES
    times with exponential backoff before giving up. Without `ctx` (e.g. run as an
    RQ job of its own) it opens and closes its own connections from the environment;
    jobs pass theirs.
    """
    rejected = _invalid_input(match_id, changes, expect)
    if rejected is not None:
        log.debug("rejected update of %r: %s", match_id, rejected.message)
        return rejected
    assert isinstance(match_id, str)
    if ctx is None:
        with job_context() as own:
            return _update_with_retries(own, match_id, changes, expect or {})
    return _update_with_retries(ctx, match_id, changes, expect or {})


def _invalid_input(
    match_id: object, changes: Mapping[str, Any], expect: Mapping[str, Any] | None
) -> UpdateResult | None:
    checks: list[tuple[Reason, str | None]] = [
        ("invalid_match_id", invalid_match_id(match_id)),
        ("invalid_changes", invalid_changes(changes)),
        ("invalid_expect", invalid_expect(expect) if expect is not None else None),
    ]
    for code, problem in checks:
        if problem:
            return UpdateResult("rejected_invalid", reason=code, detail=problem)
    return None


def _update_with_retries(
    ctx: JobContext, match_id: str, changes: Mapping[str, Any], expect: Mapping[str, Any]
) -> UpdateResult:
    last = UpdateResult("failed", reason="not_attempted", detail="not attempted")
    for attempt in range(ctx.settings.ORCHESTRATOR_MAX_RETRIES + 1):
        if attempt:
            time.sleep(_backoff(attempt))
        try:
            return _locked_update(ctx, match_id, changes, expect)
        except _Busy as exc:
            last = UpdateResult("rejected_locked", reason="match_locked", detail=str(exc))
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
            detail = f"the row stayed locked in the database: {_first_line(exc)}"
            last = UpdateResult("rejected_locked", reason="row_locked", detail=detail)
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            last = UpdateResult("failed", reason="conflict", detail=_first_line(exc))
        except psycopg.errors.UndefinedColumn as exc:
            return UpdateResult(
                "rejected_invalid", reason="missing_column", detail=_first_line(exc)
            )
        except UNAVAILABLE_ERRORS as exc:
            ctx.count_if_refused(exc)
            redis_down = isinstance(exc, redis.RedisError)
            code: Reason = "redis_unavailable" if redis_down else "database_unavailable"
            detail = f"{'redis' if redis_down else 'database'} unavailable: {_first_line(exc)}"
            last = UpdateResult("failed", reason=code, detail=detail, unavailable=True)
        except psycopg.Error as exc:
            return UpdateResult("failed", reason="database_error", detail=_first_line(exc))
    log.info("update of %s gave up after %d attempts: %s", match_id, attempt + 1, last.message)
    return last


def _backoff(attempt: int) -> float:
    delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.0)


def _locked_update(
    ctx: JobContext, match_id: str, changes: Mapping[str, Any], expect: Mapping[str, Any]
) -> UpdateResult:
    timeout_s = ctx.settings.ORCHESTRATOR_LOCK_TIMEOUT_MS / 1000
    lock = RedisLock.try_acquire(ctx.redis, keys.MATCH_LOCK.format(match_id), timeout_s)
    if lock is None:
        raise _Busy("another update of this match holds its lock")
    try:
        return _transaction(ctx, match_id, changes, expect)
    finally:
        try:
            if not lock.release():
                log.warning("lock on match %s expired before the update ended", match_id)
        except redis.RedisError as exc:
            # The update itself is done (or rolled back); only the lock outlived its use.
            log.warning("lock on match %s not released cleanly: %s", match_id, exc)


def _transaction(
    ctx: JobContext, match_id: str, changes: Mapping[str, Any], expect: Mapping[str, Any]
) -> UpdateResult:
    columns = sorted(set(changes) | set(expect))
    select = sql.SQL("SELECT {} FROM ts_matches WHERE id = %s FOR UPDATE").format(
        sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with ctx.locking_transaction() as conn:
        row = conn.execute(select, (match_id,)).fetchone()
        if row is None:
            return UpdateResult(
                "rejected_invalid", reason="invalid_match_id", detail=f"unknown match {match_id!r}"
            )
        current = dict(zip(columns, row, strict=True))
        for name, wanted in expect.items():
            if current[name] != wanted:
                detail = f"{name} is {current[name]!r}, expected {wanted!r}"
                return UpdateResult("unchanged", reason="expectation_failed", detail=detail)
        changed = sorted(name for name, value in changes.items() if current[name] != value)
        if not changed:
            return UpdateResult(
                "unchanged", reason="already_up_to_date", detail="already up to date"
            )
        params = [*(_param(name, changes[name]) for name in changed), match_id]
        conn.execute(_update_statement(changed), params)
    return UpdateResult("updated", tuple(changed))


def _update_statement(names: list[str]) -> sql.Composed:
    assignments = [sql.SQL("{} = %s").format(sql.Identifier(name)) for name in names]
    assignments.append(sql.SQL("updated_at = now()"))
    return sql.SQL("UPDATE ts_matches SET {} WHERE id = %s").format(sql.SQL(", ").join(assignments))


def _param(name: str, value: Any) -> Any:
    return Jsonb(value) if name in JSON_FIELDS and value is not None else value
