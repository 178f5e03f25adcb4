"""The half-stats schema (seed section 5) as data: what 0002/0003 create and `verify` checks."""

from __future__ import annotations

from typing import Literal

import psycopg

TABLE = "ts_matches"
DATA_COMPLETENESS_DEFAULT = {"first_half": False, "second_half": False, "full_time": False}
# Every column is jsonb; only data_completeness has a default.
COLUMNS: dict[str, dict[str, bool] | None] = {
    "statistics_second_half": None,
    "incidents_first_half": None,
    "incidents_second_half": None,
    "data_completeness": DATA_COMPLETENESS_DEFAULT,
}
INDEX = "idx_ts_matches_data_completeness"
INDEX_METHOD = "gin"
INDEX_COLUMN = "data_completeness"

IndexState = Literal["missing", "invalid", "valid"]


def index_state(conn: psycopg.Connection, name: str = INDEX) -> IndexState:
    """Whether index `name` exists in the current schema and is usable.

    An interrupted CREATE INDEX CONCURRENTLY leaves the index in the catalog with
    indisvalid = false: it is maintained on every write but never used by a query.
    """
    row = conn.execute(
        """
        SELECT i.indisvalid AND i.indisready
        FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
        WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace
        """,
        (name,),
    ).fetchone()
    if row is None:
        return "missing"
    return "valid" if row[0] else "invalid"
