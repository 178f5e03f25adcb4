"""The query parameters of GET /api/predictions/matched: schema, validation, normal form.

Parameter names and values are case-insensitive and trimmed; every value is
parsed into one normal form, so two spellings of one request give equal
`MatchedQuery` objects (and one cache key). Anything else is an
`InvalidParameter` naming the parameter and what it allows: an unknown or
repeated parameter, an empty, oversized or malformed value.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

MAX_VALUE_CHARS = 64
MAX_BIGINT = 2**63 - 1
STATUSES = ("pending", "won", "lost", "void")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
_DIGITS = re.compile(r"[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CURSOR = re.compile(r"([0-9]+)-([0-9]+)")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_CURSOR_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


class InvalidParameter(ValueError):
    """A query parameter is unknown or has a bad value; answered with 400."""

    def __init__(self, parameter: str, allowed: str) -> None:
        super().__init__(f"invalid parameter {parameter!r}: must be {allowed}")
        self.parameter = parameter
        self.allowed = allowed


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last row of the previous page (newest first)."""

    created_at: dt.datetime
    id: int

    def __str__(self) -> str:
        micros = (self.created_at - _EPOCH) // dt.timedelta(microseconds=1)
        return f"{micros}-{self.id}"


@dataclass(frozen=True)
class MatchedQuery:
    """Validated parameters; `key_params` must name every field (a test checks)."""

    limit: int = DEFAULT_LIMIT
    user_id: int | None = None
    date: dt.date | None = None
    status: str | None = None
    cursor: Cursor | None = None

    def key_params(self) -> dict[str, Any]:
        """Every parameter, defaults included, as JSON-ready values for the cache key."""
        return {
            "limit": self.limit,
            "user_id": self.user_id,
            "date": self.date.isoformat() if self.date else None,
            "status": self.status,
            "cursor": str(self.cursor) if self.cursor else None,
        }


def _whole_number(low: int, high: int) -> tuple[Callable[[str], int], str]:
    allowed = f"a whole number from {low} to {high}"

    def parse(text: str) -> int:
        if not _DIGITS.fullmatch(text) or not low <= int(text) <= high:
            raise ValueError
        return int(text)

    return parse, allowed


def _date(text: str) -> dt.date:
    if not _DATE.fullmatch(text):
        raise ValueError
    return dt.date.fromisoformat(text)


def _status(text: str) -> str:
    if text.lower() not in STATUSES:
        raise ValueError
    return text.lower()


def _cursor(text: str) -> Cursor:
    match = _CURSOR.fullmatch(text)
    if not match:
        raise ValueError
    micros, row_id = int(match[1]), int(match[2])
    if micros > _MAX_CURSOR_US or not 1 <= row_id <= MAX_BIGINT:
        raise ValueError
    return Cursor(_EPOCH + dt.timedelta(microseconds=micros), row_id)


SCHEMA: dict[str, tuple[Callable[[str], Any], str]] = {
    "limit": _whole_number(1, MAX_LIMIT),
    "user_id": _whole_number(1, MAX_BIGINT),
    "date": (_date, "a date as YYYY-MM-DD"),
    "status": (_status, f"one of {', '.join(STATUSES)}"),
    "cursor": (_cursor, "the next_cursor of a previous page"),
}


def parse_matched(items: Iterable[tuple[str, str]]) -> MatchedQuery:
    """Validate (name, value) pairs from the query string into a MatchedQuery."""
    values: dict[str, Any] = {}
    for raw_name, raw_value in items:
        name = raw_name.strip().lower()
        if name not in SCHEMA:
            shown = raw_name[:MAX_VALUE_CHARS]
            raise InvalidParameter(shown, f"one of the known parameters: {', '.join(SCHEMA)}")
        if name in values:
            raise InvalidParameter(name, "given once")
        values[name] = _parse_value(name, raw_value)
    return MatchedQuery(**values)


def _parse_value(name: str, raw_value: str) -> Any:
    parse, allowed = SCHEMA[name]
    text = raw_value.strip()
    if not text:
        raise InvalidParameter(name, f"{allowed}, not empty")
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidParameter(name, f"{allowed}, at most {MAX_VALUE_CHARS} characters")
    try:
        return parse(text)
    except ValueError:
        raise InvalidParameter(name, allowed) from None
