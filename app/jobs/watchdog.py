"""The watchdog: repair live matches that have not been updated for too long.

A live match untouched for WATCHDOG_STALE_AFTER_S is checked against the clock:
long past full time (WATCHDOG_FULL_TIME_AFTER_MIN after kickoff) it is finished;
an hour after kickoff it cannot still be in the first half, so it is at half
time. Anything else is left alone (counted as skipped). Every change goes
through the orchestrator.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg.rows import dict_row
from rq.job import Retry

from app import config
from app.infra.errors import DatabaseUnavailable
from app.jobs.context import JobContext
from app.jobs.orchestrator import UpdateResult, update_match
from app.jobs.runner import Budget, Summary, run_job, summarize

JOB = "watchdog"
# 45 minutes plus the longest first-half stoppage time seen in practice.
FIRST_HALF_OVER_AFTER = timedelta(minutes=60)

STALE_MATCHES = """
SELECT id, status, minute, kickoff_at FROM ts_matches
WHERE status IN ('first_half', 'half_time', 'second_half') AND updated_at < %(stale_before)s
ORDER BY updated_at, id
"""


def run(settings: config.Settings | None = None) -> Summary | Retry:
    """One watchdog pass (the RQ entry point): summary with updated/skipped/rejected/stale."""
    settings = settings or config.load()
    return run_job(JOB, settings, settings.MATCH_WATCHDOG_TIMEOUT_MS, _run)


def repair(
    status: str, minute: int | None, kickoff_at: datetime, now: datetime, settings: config.Settings
) -> dict[str, Any] | None:
    """The changes that put a stale live match right, or None when it looks plausible."""
    elapsed = now - kickoff_at
    if elapsed >= timedelta(minutes=settings.WATCHDOG_FULL_TIME_AFTER_MIN):
        return {"status": "finished", "minute": max(minute or 0, 90)}
    if status == "first_half" and elapsed >= FIRST_HALF_OVER_AFTER:
        return {"status": "half_time", "minute": 45}
    return None


def _run(ctx: JobContext, budget: Budget) -> Summary:
    now = datetime.now(UTC)
    stale_before = now - timedelta(seconds=ctx.settings.WATCHDOG_STALE_AFTER_S)
    with ctx.pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        stale = cur.execute(STALE_MATCHES, {"stale_before": stale_before}).fetchall()
    results: list[UpdateResult] = []
    for match in stale:
        if budget.exhausted():
            break
        status = match["status"]
        changes = repair(status, match["minute"], match["kickoff_at"], now, ctx.settings)
        if changes is None:
            results.append(
                UpdateResult(
                    "unchanged", reason="stale_but_plausible", detail="stale but plausible"
                )
            )
            continue
        result = update_match(match["id"], changes, expect={"status": status}, ctx=ctx)
        if result.unavailable:
            raise DatabaseUnavailable(result.message)
        results.append(result)
    return summarize(results, stale=len(stale), deferred=len(stale) - len(results))
