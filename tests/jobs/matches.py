"""Match rows for the job tests: insert with times relative to now, read back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row


def add_match(
    conn: psycopg.Connection,
    match_id: str,
    *,
    status: str = "first_half",
    kickoff_ago: float = 10.5,
    second_half_ago: float | None = None,
    minute: int | None = None,
    updated_ago: float = 1.0,
    now: datetime | None = None,
    **columns: Any,
) -> None:
    """Insert one match; times are minutes before `now`."""
    now = now or datetime.now(UTC)
    values: dict[str, Any] = {
        "id": match_id,
        "competition": "Test League",
        "home_team": "Home",
        "away_team": "Away",
        "kickoff_at": now - timedelta(minutes=kickoff_ago),
        "second_half_started_at": (
            None if second_half_ago is None else now - timedelta(minutes=second_half_ago)
        ),
        "status": status,
        "minute": minute,
        "updated_at": now - timedelta(minutes=updated_ago),
    } | columns
    names = ", ".join(values)
    marks = ", ".join(["%s"] * len(values))
    conn.execute(f"INSERT INTO ts_matches ({names}) VALUES ({marks})", list(values.values()))


def add_long_over_match(conn: psycopg.Connection, match_id: str = "longover01") -> None:
    """A second half still "live" long past full time, untouched for 30 minutes: the
    watchdog must finish it."""
    add_match(
        conn,
        match_id,
        status="second_half",
        kickoff_ago=200,
        minute=88,
        second_half_ago=140,
        updated_ago=30,
    )


def match_rows(database_url: str, columns: str = "minute, status") -> dict[str, tuple]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(f"SELECT id, {columns} FROM ts_matches").fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def one_match(database_url: str, match_id: str) -> Mapping[str, Any]:
    with psycopg.connect(database_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT * FROM ts_matches WHERE id = %s", (match_id,)).fetchone()
