"""The seed's decision and the fleet-aware pool recommendation, as pure functions.

The fleet's demand comes from `demand` (one formula for probe, deploy and raise_pool).

Not safe to raise the pool when slow queries > max_slow_queries, lock waits >
max_lock_waits or utilisation > max_utilization_pct (of the usable slots), or
when the fleet has no room for even one connection per process.

Recommended per-process pool max, for N processes that each hold a pool:

    headroom = max(headroom_connections, reserved slots)
    budget   = max_connections - headroom - connections held by other applications
    per_pool = max(0, min(pool_max_cap, floor(budget / N)))

so N * per_pool + others + reserved slots <= max_connections. With one process
and no other applications it is the seed's min(max_connections - 23, 80).
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.capacity.demand import Fleet, largest_web_pool
from checks.capacity.stats import DbStats
from checks.thresholds import Capacity

# Verdicts, each with its exit status (checks/capacity/__main__.py).
SAFE, NOT_SAFE, ABOVE = "safe", "not_safe", "current_above_recommendation"


@dataclass(frozen=True)
class Decision:
    safe: bool
    recommended_pool_max: int
    budget: int  # connections all pools together may hold
    utilization_pct: float
    warnings: tuple[str, ...]
    verdict: str = SAFE
    demand: int = 0  # connections the fleet can hold at once with its current pools
    usable_pool: int | None = None  # above this a web pool cannot take effect (None: unknown)
    above_message: str = ""


def budget(max_connections: int, reserved_slots: int, others: int, limits: Capacity) -> int:
    """Connections all the pools together may hold."""
    headroom = max(limits.headroom_connections, reserved_slots)
    return max_connections - headroom - others


def recommend(
    max_connections: int, reserved_slots: int, others: int, instances: int, limits: Capacity
) -> int:
    """Per-process pool max so that `instances` pools together stay within the budget."""
    room = budget(max_connections, reserved_slots, others, limits)
    return max(0, min(limits.pool_max_cap, room // instances))


def utilization_pct(stats: DbStats) -> float:
    if stats.usable_slots <= 0:
        return 100.0
    return round(100.0 * stats.total / stats.usable_slots, 1)


def decide(stats: DbStats, fleet: Fleet, limits: Capacity) -> Decision:
    """The verdict for `fleet` (current pools included) on this database."""
    util = utilization_pct(stats)
    room = budget(stats.max_connections, stats.reserved_slots, stats.other_connections, limits)
    processes = fleet.web_processes + fleet.worker_processes
    per_pool = largest_web_pool(fleet, room, limits.pool_max_cap) if fleet.web else 0
    current = fleet.web_pool_max
    blocking = database_blocks(stats, util, limits)
    if fleet.web and per_pool < 1:
        blocking.append(
            f"No room for {processes} pool(s): budget is {room} connections - "
            "Reduce other connections or raise max_connections"
        )
    above = ""
    if fleet.web and 1 <= per_pool < current and fleet.demand > room:
        above = (
            f"current pool max {current} exceeds what the database can serve for "
            f"{processes} processes: lower it to {per_pool}"
        )
    verdict = NOT_SAFE if blocking else (ABOVE if above else SAFE)
    return Decision(
        safe=verdict == SAFE,
        recommended_pool_max=per_pool,
        budget=room,
        utilization_pct=util,
        warnings=tuple(blocking + pool_advice(stats, fleet)),
        verdict=verdict,
        demand=fleet.demand,
        usable_pool=fleet.usable_web_pool,
        above_message=above,
    )


def database_blocks(stats: DbStats, util: float, limits: Capacity) -> list[str]:
    """The seed's reasons not to raise the pool, on the database's own numbers."""
    blocking = []
    if stats.slow_queries > limits.max_slow_queries:
        blocking.append(
            f"{stats.slow_queries} slow queries detected (>{limits.slow_query_s:g}s) - "
            "Optimize queries before increasing pool"
        )
    if stats.lock_waits > limits.max_lock_waits:
        blocking.append(
            f"{stats.lock_waits} lock waits detected - Investigate lock contention first"
        )
    if util > limits.max_utilization_pct:
        blocking.append(
            f"Connection utilization high: {util:.1f}% - Consider query optimization first"
        )
    return blocking


def pool_advice(stats: DbStats, fleet: Fleet) -> list[str]:
    """Warnings that do not block raising the pool but deserve a look."""
    advice = []
    if stats.idle_transactions:
        oldest = max(t.age_s for t in stats.idle_transactions)
        advice.append(
            f"{len(stats.idle_transactions)} idle-in-transaction session(s), oldest "
            f"{oldest:.0f}s - possible transaction leak; find the code that does not commit"
        )
    usable = fleet.usable_web_pool
    if usable is not None and fleet.web_pool_max > usable:
        advice.append(
            f"A web pool above {usable} cannot take effect: a web process holds at most its "
            "request threads + background refreshes. To use more connections, raise "
            "GUNICORN_THREADS, or add web processes or hosts"
        )
    return advice
