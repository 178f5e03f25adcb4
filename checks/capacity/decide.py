"""The hardening review's decision and the fleet-aware pool recommendation, pure functions.

The fleet's demand comes from `demand` (one formula for probe, deploy and raise_pool).

Not safe to raise the pool when slow queries > max_slow_queries, lock waits >
max_lock_waits or utilisation > max_utilization_pct (of the usable slots,
compared unrounded: 698 of 997 slots is 70.01 %, above 70), or when the fleet has
no room for even one connection per process.

Recommended web pool max per process, the review's min(max_connections - 23, 80)
for a fleet:

    headroom = max(headroom_connections, reserved slots)
    budget   = max_connections - headroom - connections held by other applications
    per_pool = the largest pool <= min(pool_max_cap, budget) with which the whole
               fleet's demand (checks/capacity/demand.py) fits in the budget

One web process's pool never exceeds the budget, whatever its threads let it fill
today (threads can change later). With one web process, no workers and no other
applications it is min(max_connections - 23, 80). A judged pool max (the current
one, or the one raise_pool asks for) above it is its own verdict, ABOVE.
"""

from __future__ import annotations

from dataclasses import dataclass

from checks.capacity.demand import Fleet, largest_web_pool, name
from checks.capacity.stats import DbStats
from checks.thresholds import Capacity

# Verdicts, each with its exit status (checks/capacity/__main__.py).
SAFE, NOT_SAFE, ABOVE = "safe", "not_safe", "current_above_recommendation"


@dataclass(frozen=True)
class Decision:
    safe: bool
    recommended_pool_max: int
    budget: int  # connections all pools together may hold
    utilization_pct: float  # unrounded; round for display only (shown_pct)
    warnings: tuple[str, ...]
    verdict: str = SAFE
    demand: int = 0  # connections the fleet can hold at once with its judged pools
    usable_pool: int | None = None  # above this a web pool cannot take effect (None: unknown)
    above_message: str = ""
    why_recommended: str = ""  # what limits the recommendation, in words


def budget(max_connections: int, reserved_slots: int, others: int, limits: Capacity) -> int:
    """Connections all the pools together may hold."""
    headroom = max(limits.headroom_connections, reserved_slots)
    return max_connections - headroom - others


def utilization_pct(stats: DbStats) -> float:
    if stats.usable_slots <= 0:
        return 100.0
    return 100.0 * stats.total / stats.usable_slots


def shown_pct(value: float, limit: float) -> str:
    """`value` to one decimal, or to as many as it takes to show on which side of `limit`
    it is (698 of 997 slots: "70.01", not "70.0", against a limit of 70). Six always
    do: a share of fewer than a million slots is at least 1e-6 away from a limit."""
    for digits in range(1, 7):
        text = f"{value:.{digits}f}"
        if _side(float(text), limit) == _side(value, limit):
            break
    return text


def _side(value: float, limit: float) -> int:
    """-1 below `limit`, 0 on it, 1 above it."""
    return (value > limit) - (value < limit)


def recommend(stats: DbStats, fleet: Fleet, limits: Capacity) -> tuple[int, str]:
    """The recommended web pool max for `fleet`, and what limits it."""
    room = budget(stats.max_connections, stats.reserved_slots, stats.other_connections, limits)
    ceiling = min(limits.pool_max_cap, room)
    per_pool = largest_web_pool(fleet, room, ceiling)
    if per_pool < 1:
        return 0, ""
    if per_pool < ceiling:
        why = (
            f"with more, {name(fleet)} would hold more than the budget of {room} connections "
            f"({_budget_sum(stats, limits, room)})"
        )
    elif ceiling < limits.pool_max_cap:
        why = f"one process's pool may not exceed the budget ({_budget_sum(stats, limits, room)})"
    else:
        why = f"never more than {limits.pool_max_cap} per process (pool_max_cap)"
    return per_pool, why


def _budget_sum(stats: DbStats, limits: Capacity, room: int) -> str:
    headroom = max(limits.headroom_connections, stats.reserved_slots)
    text = f"max_connections {stats.max_connections} - {headroom} headroom"
    if stats.other_connections:
        text += f" - {stats.other_connections} held by other applications"
    return f"{text} = {room}"


def decide(stats: DbStats, fleet: Fleet, limits: Capacity) -> Decision:
    """The verdict for `fleet` (its judged pools included) on this database."""
    util = utilization_pct(stats)
    room = budget(stats.max_connections, stats.reserved_slots, stats.other_connections, limits)
    processes = fleet.web_processes + fleet.worker_processes
    per_pool, why = recommend(stats, fleet, limits) if fleet.web else (0, "")
    blocking = database_blocks(stats, util, limits)
    if fleet.web and per_pool < 1:
        blocking.append(
            f"No room for {processes} pool(s): budget is {room} connections - "
            "Reduce other connections or raise max_connections"
        )
    return conclude(stats, fleet, util, room, (per_pool, why), blocking)


def conclude(
    stats: DbStats,
    fleet: Fleet,
    util: float,
    room: int,
    recommended: tuple[int, str],
    blocking: list[str],
) -> Decision:
    """The verdict from what blocks and the recommendation (per pool, what limits it) on a
    budget of `room` connections: also what the probe through PgBouncer concludes with."""
    per_pool, why = recommended
    current = fleet.web_pool_max
    above = ""
    if fleet.web and 1 <= per_pool < current:
        above = f"pool max {current} is above the recommended {per_pool} for {name(fleet)}: {why}"
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
        why_recommended=why,
    )


def database_blocks(stats: DbStats, util: float, limits: Capacity) -> list[str]:
    """The review's reasons not to raise the pool, on the database's own numbers."""
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
            f"Connection utilization high: {shown_pct(util, limits.max_utilization_pct)}% - "
            "Consider query optimization first"
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
