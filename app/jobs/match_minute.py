"""The match-minute tick: move the minute of live matches forward to the clock.

The due minute comes from the kickoff (first half, up to 45) or the start of the
second half (45 + elapsed, up to 90); matches without a second-half marker are
left to the watchdog. At most `min(MATCH_MINUTE_BATCH_SIZE, MAX_UPDATES_PER_TICK)`
matches are updated per tick, least recently updated first, so a tick that
stops early (timeout, killed worker) leaves the rest to the next one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row
from rq.job import Retry

from app import config
from app.infra.errors import DatabaseUnavailable
from app.jobs.context import JobContext
from app.jobs.orchestrator import update_match
from app.jobs.runner import Budget, Summary, run_job, summarize

JOB = "match_minute"

DUE_MATCHES = """
WITH live AS (
    SELECT id, status, minute, updated_at,
        CASE
            WHEN status = 'first_half'
                THEN LEAST(45, floor(extract(epoch FROM %(now)s - kickoff_at) / 60))
            WHEN status = 'second_half' AND second_half_started_at IS NOT NULL
                THEN LEAST(90, 45 + floor(
                    extract(epoch FROM %(now)s - second_half_started_at) / 60))
        END::int AS due_minute
    FROM ts_matches
    WHERE status IN ('first_half', 'second_half')
)
SELECT id, status, due_minute FROM live
WHERE due_minute > coalesce(minute, -1)
ORDER BY updated_at, id
LIMIT %(limit)s
"""


def tick(settings: config.Settings | None = None) -> Summary | Retry:
    """One tick (the RQ entry point): summary with updated/skipped/rejected/failed/due."""
    settings = settings or config.load()
    return run_job(JOB, settings, settings.MATCH_MINUTE_TIMEOUT_MS, _tick)


def due_matches(ctx: JobContext, now: datetime, limit: int) -> list[dict[str, Any]]:
    """{id, status, due_minute} of live matches whose stored minute is behind the clock."""
    with ctx.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        return cur.execute(DUE_MATCHES, {"now": now, "limit": limit}).fetchall()


def _tick(ctx: JobContext, budget: Budget) -> Summary:
    due = due_matches(ctx, datetime.now(UTC), ctx.settings.updates_per_tick)
    results = []
    for match in due:
        if budget.exhausted():
            break
        changes = {"minute": match["due_minute"]}
        result = update_match(match["id"], changes, expect={"status": match["status"]}, ctx=ctx)
        if result.unavailable:
            raise DatabaseUnavailable(result.message)
        results.append(result)
    return summarize(results, due=len(due), deferred=len(due) - len(results))
