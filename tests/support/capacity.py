"""Build the capacity probe's statistics by hand, for table tests of the decision."""

from __future__ import annotations

from typing import Any

from checks.capacity.stats import DbStats, IdleTransaction


def db_stats(
    *,
    total: int = 10,
    usable: int = 97,
    slow_queries: int = 0,
    lock_waits: int = 0,
    other: int = 0,
    idle_transactions: list[dict[str, Any]] = (),  # type: ignore[assignment]
) -> DbStats:
    """Statistics of a server with `usable` client slots (3 reserved) and `total` sessions.

    Every session belongs to the pools being sized unless counted in `other`.
    """
    reserved = 3
    return DbStats(
        server_version="15.0",
        max_connections=usable + reserved,
        superuser_reserved=reserved,
        reserved=0,
        total=total,
        active=0,
        idle=total,
        idle_in_transaction=len(idle_transactions),
        pool_connections=total - other,
        slow_query_s=1.0,
        slow_queries=slow_queries,
        lock_waits=lock_waits,
        idle_transactions=tuple(IdleTransaction(**t) for t in idle_transactions),
    )
