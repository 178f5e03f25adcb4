"""What a match change may contain: the rules `update_match` checks before any I/O.

Each check returns the reason a value is unusable, or None when it is fine, so
the orchestrator can turn every bad input into `rejected_invalid` with a reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime

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


def _not_json(value: object) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return True
    return False


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
        if problem is None and name in JSON_FIELDS and _not_json(value):
            problem = f"{name} must hold only JSON values"
        if problem:
            return f"invalid change: {problem}"
    return None


def invalid_expect(expect: object) -> str | None:
    """Why `expect` cannot be checked: it must name known fields (any values)."""
    if not isinstance(expect, Mapping):
        return f"expect must be a mapping, got {type(expect).__name__}"
    unknown = [name for name in expect if name not in KNOWN_FIELDS]
    return f"expect names unknown fields {unknown!r}" if unknown else None
