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
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import psycopg
import redis
from psycopg import sql
from psycopg.types.json import Jsonb

from app.jobs import keys
from app.jobs.context import UNAVAILABLE_ERRORS, JobContext, shared_context

log = logging.getLogger(__name__)

Status = Literal["updated", "unchanged", "rejected_invalid", "rejected_locked", "failed"]

MATCH_ID = re.compile(r"[a-z0-9]{6,32}")

MATCH_STATUSES = frozenset(
    {"scheduled", "first_half", "half_time", "second_half", "finished", "postponed", "cancelled"}
)
JSON_FIELDS = frozenset(
    {
        "statistics_first_half",
        "statistics_second_half",
        "incidents",
        "incidents_first_half",
        "incidents_second_half",
        "data_completeness",
    }
)
KNOWN_FIELDS = JSON_FIELDS | {
    "status",
    "minute",
    "home_score",
    "away_score",
    "second_half_started_at",
}
COMPLETENESS_FLAGS = ("first_half", "second_half", "full_time")
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 1.0


@dataclass(frozen=True)
class UpdateResult:
    status: Status
    fields_updated: tuple[str, ...] = ()
    reason: str | None = None
    # True when the database could not be reached: the caller's whole job should retry.
    unavailable: bool = field(default=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "fields_updated": list(self.fields_updated),
            "reason": self.reason,
        }


class _Busy(Exception):
    """The match is locked by another updater (in Redis or in the database)."""


# --- validation ---------------------------------------------------------------------------


def invalid_match_id(match_id: object) -> str | None:
    """Why `match_id` cannot name a match, or None when it can."""
    if match_id is None:
        return "invalid match id: missing"
    if not isinstance(match_id, str):
        return f"invalid match id: expected text, got {type(match_id).__name__}"
    if not match_id:
        return "invalid match id: empty"
    if not MATCH_ID.fullmatch(match_id):
        return f"invalid match id {match_id[:40]!r}: must be 6-32 of a-z and 0-9"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(name: str, value: object) -> str | None:
    if name == "status":
        return None if value in MATCH_STATUSES else f"unknown status {value!r}"
    if name == "minute":
        ok = value is None or (_is_int(value) and 0 <= value <= 130)
        return None if ok else "minute must be a whole number from 0 to 130, or None"
    if name in ("home_score", "away_score"):
        ok = _is_int(value) and value >= 0
        return None if ok else f"{name} must be a whole number of 0 or more"
    if name == "second_half_started_at":
        ok = value is None or (isinstance(value, datetime) and value.tzinfo is not None)
        return None if ok else "second_half_started_at must be a timezone-aware datetime"
    if name == "incidents":
        return None if isinstance(value, list) else "incidents must be a list"
    if name == "data_completeness":
        ok = value is None or (
            isinstance(value, dict)
            and all(isinstance(value.get(flag, False), bool) for flag in COMPLETENESS_FLAGS)
        )
        return None if ok else "data_completeness must be an object of true/false flags, or None"
    if name in JSON_FIELDS:
        ok = value is None or isinstance(value, dict | list)
        return None if ok else f"{name} must be a JSON object, a list or None"
    return f"unknown field {name!r}"


def invalid_changes(changes: object) -> str | None:
    """Why `changes` cannot be applied, or None when every field and value is valid."""
    if not isinstance(changes, Mapping):
        return f"changes must be a mapping, got {type(changes).__name__}"
    if not changes:
        return "no changes given"
    for name, value in changes.items():
        if not isinstance(name, str):
            return f"field names must be text, got {name!r}"
        problem = _check_value(name, value)
        if problem:
            return f"invalid change: {problem}"
    return None


def invalid_expect(expect: object) -> str | None:
    """Why `expect` cannot be checked: it must name known fields (any values)."""
    if not isinstance(expect, Mapping):
        return f"expect must be a mapping, got {type(expect).__name__}"
    unknown = [name for name in expect if name not in KNOWN_FIELDS]
    return f"expect names unknown fields {unknown!r}" if unknown else None


# --- the update ---------------------------------------------------------------------------


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
    times with exponential backoff before giving up.
    """
    problem = invalid_match_id(match_id) or invalid_changes(changes)
    if problem is None and expect is not None:
        problem = invalid_expect(expect)
    if problem:
        log.debug("rejected update of %r: %s", match_id, problem)
        return UpdateResult("rejected_invalid", reason=problem)
    ctx = ctx or shared_context()
    assert isinstance(match_id, str)
    last = UpdateResult("failed", reason="not attempted")
    for attempt in range(ctx.settings.ORCHESTRATOR_MAX_RETRIES + 1):
        if attempt:
            time.sleep(_backoff(attempt))
        try:
            return _locked_update(ctx, match_id, changes, expect or {})
        except _Busy as exc:
            last = UpdateResult("rejected_locked", reason=str(exc))
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
            reason = f"the row stayed locked in the database: {_first_line(exc)}"
            last = UpdateResult("rejected_locked", reason=reason)
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            last = UpdateResult("failed", reason=_first_line(exc))
        except psycopg.errors.UndefinedColumn as exc:
            return UpdateResult("rejected_invalid", reason=_first_line(exc))
        except UNAVAILABLE_ERRORS as exc:
            service = "redis" if isinstance(exc, redis.RedisError) else "database"
            reason = f"{service} unavailable: {_first_line(exc)}"
            last = UpdateResult("failed", reason=reason, unavailable=True)
        except psycopg.Error as exc:
            return UpdateResult("failed", reason=_first_line(exc))
    log.info("update of %s gave up after %d attempts: %s", match_id, attempt + 1, last.reason)
    return last


def _backoff(attempt: int) -> float:
    delay = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.0)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _locked_update(
    ctx: JobContext, match_id: str, changes: Mapping[str, Any], expect: Mapping[str, Any]
) -> UpdateResult:
    timeout_s = ctx.settings.ORCHESTRATOR_LOCK_TIMEOUT_MS / 1000
    lock = ctx.redis.lock(
        keys.MATCH_LOCK.format(match_id), timeout=timeout_s, blocking=False, thread_local=False
    )
    if not lock.acquire():
        raise _Busy("another update of this match holds its lock")
    try:
        return _transaction(ctx, match_id, changes, expect)
    finally:
        try:
            lock.release()
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
    # The pool's connections wait at most ORCHESTRATOR_LOCK_TIMEOUT_MS for the row lock.
    with ctx.pool.connection() as conn, conn.transaction():
        row = conn.execute(select, (match_id,)).fetchone()
        if row is None:
            return UpdateResult("rejected_invalid", reason=f"unknown match {match_id!r}")
        current = dict(zip(columns, row, strict=True))
        for name, wanted in expect.items():
            if current[name] != wanted:
                reason = f"{name} is {current[name]!r}, expected {wanted!r}"
                return UpdateResult("unchanged", reason=reason)
        changed = sorted(name for name, value in changes.items() if current[name] != value)
        if not changed:
            return UpdateResult("unchanged", reason="already up to date")
        params = [*(_param(name, changes[name]) for name in changed), match_id]
        conn.execute(_update_statement(changed), params)
    return UpdateResult("updated", tuple(changed))


def _update_statement(names: list[str]) -> sql.Composed:
    assignments = [sql.SQL("{} = %s").format(sql.Identifier(name)) for name in names]
    assignments.append(sql.SQL("updated_at = now()"))
    return sql.SQL("UPDATE ts_matches SET {} WHERE id = %s").format(sql.SQL(", ").join(assignments))


def _param(name: str, value: Any) -> Any:
    return Jsonb(value) if name in JSON_FIELDS and value is not None else value
