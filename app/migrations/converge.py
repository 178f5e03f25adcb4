"""Bring the half-stats columns to what 0002 promises when they were there before it.

0002 adds only missing columns (ADD COLUMN IF NOT EXISTS): a column an operator
added by hand while chasing the incident's "column does not exist" error keeps its
wrong default or type. `apply` runs this after the migrations, every time:

- a wrong or missing default: ALTER COLUMN ... SET DEFAULT, a catalog change
  under a short lock (lock_timeout), done online;
- a wrong type: changing it rewrites the table under an exclusive lock, not an
  online change: refused with the exact statement to run in a maintenance window.
"""

from __future__ import annotations

import json

import psycopg
from psycopg import sql

from app.migrations import half_stats
from app.migrations.guard import CONNECT_TIMEOUT_S


class CannotConverge(Exception):
    """A column cannot be fixed online; the message holds the exact fix."""


def converge(database_url: str, lock_timeout_ms: int) -> list[str]:
    """Fix what can be fixed online; returns what was done. Raises CannotConverge."""
    done = []
    with psycopg.connect(database_url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True) as conn:
        columns = _columns(conn)
        for name, default in half_stats.COLUMNS.items():
            if name not in columns:
                continue  # 0002 not applied yet (apply --to): nothing promised
            data_type, current = columns[name]
            if data_type != "jsonb":
                raise CannotConverge(_type_fix(name, data_type))
            if _default_value(conn, current) != default:
                _set_default(conn, name, default, lock_timeout_ms)
                done.append(f"set the default of {half_stats.TABLE}.{name}")
    return done


def _columns(conn: psycopg.Connection) -> dict[str, tuple[str, str | None]]:
    rows = conn.execute(
        "SELECT column_name, data_type, column_default FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s",
        (half_stats.TABLE,),
    )
    return {name: (data_type, default) for name, data_type, default in rows}


def _default_value(conn: psycopg.Connection, expression: str | None):
    """The jsonb value a default expression gives (None when there is none)."""
    if expression is None:
        return None
    (value,) = conn.execute(sql.SQL("SELECT ({})::jsonb").format(sql.SQL(expression))).fetchone()
    return value


def _set_default(conn: psycopg.Connection, name: str, default, lock_timeout_ms: int) -> None:
    statement = sql.SQL("ALTER TABLE {} ALTER COLUMN {} SET DEFAULT {}").format(
        sql.Identifier(half_stats.TABLE),
        sql.Identifier(name),
        sql.SQL("NULL")
        if default is None
        else sql.Literal(json.dumps(default)) + sql.SQL("::jsonb"),
    )
    with conn.transaction():
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{lock_timeout_ms}ms",))
        conn.execute(statement)


def _type_fix(name: str, data_type: str) -> str:
    return (
        f"column {half_stats.TABLE}.{name} is {data_type}, expected jsonb; changing it rewrites "
        "the table under an exclusive lock, so apply does not do it online. In a maintenance "
        f"window run: ALTER TABLE {half_stats.TABLE} ALTER COLUMN {name} TYPE jsonb "
        f"USING {name}::jsonb; then apply again"
    )
