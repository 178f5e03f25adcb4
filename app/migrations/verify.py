"""Does the database hold the schema the migrations promise? `python -m app.migrations verify`.

Checks that no migration is pending, that every half-stats column exists as
jsonb with the right default, and that the GIN index exists and is valid.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import psycopg

from app.migrations import half_stats, status
from app.migrations.guard import CONNECT_TIMEOUT_S

INDEX_MIGRATION = "0003_half_stats_index"
COLUMNS = half_stats.COLUMNS.items()


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def verify(database_url: str) -> list[Check]:
    """Every check, passed or not. Raises psycopg.Error when the database cannot be read."""
    pending = [s.id for s in status(database_url) if not s.applied]
    checks = [
        Check(
            "migrations",
            not pending,
            f"pending: {', '.join(pending)}" if pending else "all applied",
        )
    ]
    with psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        columns = _columns(conn, half_stats.TABLE)
        checks += [_column_check(name, default, columns) for name, default in COLUMNS]
        checks.append(_index_check(conn, index_pending=INDEX_MIGRATION in pending))
    return checks


def _columns(conn: psycopg.Connection, table: str) -> dict[str, tuple[str, str | None]]:
    rows = conn.execute(
        """
        SELECT column_name, data_type, column_default FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = %s
        """,
        (table,),
    )
    return {name: (data_type, default) for name, data_type, default in rows}


def _column_check(name: str, expected_default, columns) -> Check:
    label = f"column {half_stats.TABLE}.{name}"
    if name not in columns:
        return Check(label, False, "missing")
    data_type, default = columns[name]
    if data_type != "jsonb":
        return Check(label, False, f"type {data_type}, expected jsonb")
    if _jsonb_default(default) != expected_default:
        return Check(label, False, f"default {default}, expected {json.dumps(expected_default)}")
    return Check(label, True, "jsonb" + (f" default {default}" if default else ""))


def _jsonb_default(expression: str | None):
    """The value of a `'<json>'::jsonb` default expression; None when there is none."""
    if expression is None:
        return None
    match = re.fullmatch(r"'(.*)'::jsonb", expression, re.DOTALL)
    if match is None:
        return expression  # not a constant: never equal to an expected value
    return json.loads(match.group(1).replace("''", "'"))


def _index_check(conn: psycopg.Connection, index_pending: bool) -> Check:
    label = f"index {half_stats.INDEX}"
    row = conn.execute(
        """
        SELECT t.relname, am.amname,
               array(SELECT a.attname::text FROM pg_attribute a
                     WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey))
        FROM pg_class c
        JOIN pg_index i ON i.indexrelid = c.oid
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_am am ON am.oid = c.relam
        WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace
        """,
        (half_stats.INDEX,),
    ).fetchone()
    if row is None:
        return Check(label, False, "missing")
    table, method, columns = row
    expected = (half_stats.TABLE, half_stats.INDEX_METHOD, [half_stats.INDEX_COLUMN])
    if (table, method, columns) != expected:
        return Check(label, False, f"on {table} using {method} ({', '.join(columns)})")
    if half_stats.index_state(conn) != "valid":
        fix = (
            "run apply again to drop and rebuild it"
            if index_pending
            else f"rebuild it: REINDEX INDEX CONCURRENTLY {half_stats.INDEX}"
        )
        return Check(label, False, f"INVALID (an interrupted build): {fix}")
    return Check(label, True, f"valid, {method} on {table} ({', '.join(columns)})")
