"""The data-completeness validator: keep the half-stats flags of finished matches true.

Defensive about the schema, like the original job: it reads information_schema
first, and when the `data_completeness` column is absent (its migration not
applied yet) it logs at debug and returns an empty result without error. When
present, a half counts as complete when all of its columns that exist hold data;
`full_time` is both halves. Only matches whose stored flags differ are touched,
each through the orchestrator and only if the flags are still what was read.
"""

from __future__ import annotations

import logging
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from rq.job import Retry

from app import config
from app.infra.errors import DatabaseUnavailable
from app.jobs.context import JobContext
from app.jobs.orchestrator import update_match
from app.jobs.runner import Budget, Summary, run_job, summarize

log = logging.getLogger(__name__)

JOB = "data_completeness"
FLAGS_COLUMN = "data_completeness"
HALF_COLUMNS = {
    "first_half": ("statistics_first_half", "incidents_first_half"),
    "second_half": ("statistics_second_half", "incidents_second_half"),
}

COLUMNS_QUERY = """
SELECT column_name FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name = 'ts_matches'
"""


def run(settings: config.Settings | None = None) -> Summary | Retry:
    """One validation pass (the RQ entry point): updated/skipped/rejected/checked."""
    settings = settings or config.load()
    return run_job(JOB, settings, settings.DATA_COMPLETENESS_TIMEOUT_MS, _run)


def _empty(**extra: Any) -> Summary:
    return summarize([], checked=0, **extra)


def _half_complete(half: str, present: set[str]) -> sql.Composable:
    """SQL true when every existing column of `half` holds data (false if none exist)."""
    columns = [c for c in HALF_COLUMNS[half] if c in present]
    if not columns:
        return sql.SQL("false")
    checks = [sql.SQL("{} IS NOT NULL").format(sql.Identifier(c)) for c in columns]
    return sql.SQL("({})").format(sql.SQL(" AND ").join(checks))


def _incomplete_query(present: set[str]) -> sql.Composed:
    first, second = _half_complete("first_half", present), _half_complete("second_half", present)
    return sql.SQL(
        """
        SELECT id, data_completeness, first_half, second_half FROM (
            SELECT id, data_completeness, {first} AS first_half, {second} AS second_half
            FROM ts_matches WHERE status = 'finished'
        ) m
        WHERE data_completeness IS NULL
           OR data_completeness->'first_half' IS DISTINCT FROM to_jsonb(first_half)
           OR data_completeness->'second_half' IS DISTINCT FROM to_jsonb(second_half)
           OR data_completeness->'full_time' IS DISTINCT FROM to_jsonb(first_half AND second_half)
        ORDER BY id
        LIMIT %(limit)s
        """
    ).format(first=first, second=second)


def _run(ctx: JobContext, budget: Budget) -> Summary:
    with ctx.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        present = {row["column_name"] for row in cur.execute(COLUMNS_QUERY)}
        if FLAGS_COLUMN not in present:
            log.debug("column ts_matches.%s absent: nothing to validate", FLAGS_COLUMN)
            return _empty(columns_present=False)
        limit = ctx.settings.DATA_COMPLETENESS_BATCH_SIZE
        rows = cur.execute(_incomplete_query(present), {"limit": limit}).fetchall()
    results = []
    for row in rows:
        if budget.exhausted():
            break
        stored, first_half, second_half = row[FLAGS_COLUMN], row["first_half"], row["second_half"]
        flags = (stored or {}) | {
            "first_half": first_half,
            "second_half": second_half,
            "full_time": first_half and second_half,
        }
        result = update_match(
            row["id"], {FLAGS_COLUMN: flags}, expect={FLAGS_COLUMN: stored}, ctx=ctx
        )
        if result.unavailable:
            raise DatabaseUnavailable(result.message)
        results.append(result)
    return summarize(results, checked=len(rows), columns_present=True)
