"""The one query behind GET /api/predictions/matched, and its JSON body.

Predictions newest first, joined with their match, filtered by user, status and
match day, keyset-paginated on (created_at, id) so every page uses an index.
The SQL carries the comment `QUERY_TAG`, so the database side can count it
(pg_stat_statements keeps comments in the query text).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.web.params import Cursor, MatchedQuery

QUERY_TAG = "goalgpt:predictions_matched"

_COLUMNS = """
    p.id, p.user_id, p.market, p.pick, p.confidence, p.status, p.created_at,
    m.id AS match_id, m.competition, m.home_team, m.away_team, m.kickoff_at,
    m.status AS match_status, m.minute, m.home_score, m.away_score
"""
# Fixed SQL fragments, chosen by which filters are present; values are bound.
_FILTERS = {
    "user_id": "p.user_id = %(user_id)s",
    "status": "p.status = %(status)s",
    "date": "m.kickoff_at >= %(day_start)s AND m.kickoff_at < %(day_end)s",
    "cursor": "(p.created_at, p.id) < (%(cursor_at)s, %(cursor_id)s)",
}


def matched_sql(query: MatchedQuery) -> tuple[str, dict[str, Any]]:
    """The SQL and its parameters for `query` (one row more than the page, to see a next one)."""
    present = [name for name in _FILTERS if getattr(query, name) is not None]
    where = " AND ".join(_FILTERS[name] for name in present)
    sql = (
        f"/* {QUERY_TAG} */ SELECT {_COLUMNS} FROM predictions p "
        "JOIN ts_matches m ON m.id = p.match_id "
        f"{'WHERE ' + where if where else ''} "
        "ORDER BY p.created_at DESC, p.id DESC LIMIT %(limit)s"
    )
    args: dict[str, Any] = {
        "limit": query.limit + 1,
        "user_id": query.user_id,
        "status": query.status,
    }
    if query.date is not None:
        start = dt.datetime.combine(query.date, dt.time(), tzinfo=dt.UTC)
        args |= {"day_start": start, "day_end": start + dt.timedelta(days=1)}
    if query.cursor is not None:
        args |= {"cursor_at": query.cursor.created_at, "cursor_id": query.cursor.id}
    return sql, args


def fetch_matched(conn: psycopg.Connection, query: MatchedQuery) -> bytes:
    """Run the query and return the response body (JSON bytes) for the cache."""
    sql, args = matched_sql(query)
    rows = conn.cursor(row_factory=dict_row).execute(sql, args).fetchall()
    page, more = rows[: query.limit], len(rows) > query.limit
    next_cursor = str(Cursor(page[-1]["created_at"], page[-1]["id"])) if more else None
    body = {
        "predictions": [_prediction(row) for row in page],
        "count": len(page),
        "next_cursor": next_cursor,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _prediction(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "market": row["market"],
        "pick": row["pick"],
        "confidence": row["confidence"],
        "status": row["status"],
        "created_at": row["created_at"].isoformat(),
        "match": {
            "id": row["match_id"],
            "competition": row["competition"],
            "home_team": row["home_team"],
            "away_team": row["away_team"],
            "kickoff_at": row["kickoff_at"].isoformat(),
            "status": row["match_status"],
            "minute": row["minute"],
            "home_score": row["home_score"],
            "away_score": row["away_score"],
        },
    }
