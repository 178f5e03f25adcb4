"""What a failure means: the database is unavailable (retry later), or something else.

One `DatabaseUnavailable` for every caller: the web answers it with 503 and
Retry-After, a job with a later retry. Its `kind` says why (`classify`).
`first_line` is the line of an error an operator or a log reads; `connect_reason`
the checks' shorter form of a libpq error.
"""

from __future__ import annotations

import psycopg
import redis
from psycopg import errors
from psycopg_pool import PoolTimeout

from app.infra.refusal import is_too_many_clients

# Errors that say "the database or Redis is unreachable right now", not "this is wrong".
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    PoolTimeout,
    redis.ConnectionError,
    redis.TimeoutError,
)


class DatabaseUnavailable(Exception):
    """The database could not answer in time; `kind` says why, the message says more."""

    def __init__(self, message: str, kind: str = "connection") -> None:
        super().__init__(message)
        self.kind = kind

    @classmethod
    def of(cls, kind: str, detail: str = "") -> DatabaseUnavailable:
        """'kind: detail' as the message, e.g. of("timeout", "no time left for the query")."""
        return cls(f"{kind}: {detail}" if detail else kind, kind)


def classify(exc: BaseException) -> str | None:
    """The `kind` of a failure that makes the database unavailable, None for other errors.

    Errors in our own SQL (undefined column, syntax) are bugs, not outages: None.
    """
    if isinstance(exc, PoolTimeout):
        return "pool_timeout"
    if is_too_many_clients(exc):
        return "too_many_clients"
    if isinstance(exc, errors.QueryCanceled):
        return "timeout"
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return "connection"
    return None


def first_line(exc: BaseException) -> str:
    """The first line of the error's text, or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect_reason(exc: BaseException | str) -> str:
    """The line of a libpq error (or of its text) that says why, without libpq's prefixes
    (the checks' form).

    libpq reports each address it tried, then hints: the last "failed:" line says why.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    failed = [line for line in lines if "failed:" in line]
    text = (failed or lines or [type(exc).__name__])[-1]
    text = text.removeprefix("connection failed: ")
    return " ".join(text.replace("FATAL:", "").split())
