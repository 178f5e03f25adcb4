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

from app.web.params import Cursor, MatchedQuery

QUERY_TAG = "goalgpt:predictions_matched"

_COLUMNS = """
    p.id, p.user_id, p.market, p.pick, p.confidence, p.status, p.created_at,
    m.id, m.competition, m.home_team, m.away_team, m.kickoff_at,
    m.status, m.minute, m.home_score, m.away_score
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
    rows = conn.execute(sql, args).fetchall()
    page, more = rows[: query.limit], len(rows) > query.limit
    next_cursor = str(Cursor(page[-1][6], page[-1][0])) if more else None
    body = {
        "predictions": [_prediction(row) for row in page],
        "count": len(page),
        "next_cursor": next_cursor,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _prediction(row: tuple) -> dict[str, Any]:
    return {
        "id": row[0],
        "user_id": row[1],
        "market": row[2],
        "pick": row[3],
        "confidence": row[4],
        "status": row[5],
        "created_at": row[6].isoformat(),
        "match": {
            "id": row[7],
            "competition": row[8],
            "home_team": row[9],
            "away_team": row[10],
            "kickoff_at": row[11].isoformat(),
            "status": row[12],
            "minute": row[13],
            "home_score": row[14],
            "away_score": row[15],
        },
    }
