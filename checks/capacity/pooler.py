"""The capacity probe through PgBouncer: both budgets and what each bouncer says.

With bouncers in the deployment's fleet (the fleet file lists them), the web pool
a process may have is bounded by PgBouncer's client side (max_client_conn), not by
PostgreSQL: the recommendation is the largest web pool whose demand fits there, at
most the production-hardening review's cap. PostgreSQL's own checks (slow queries, lock waits,
utilisation) still block, and so does a server side the bouncers' pools and the
direct sessions oversubscribe. Each bouncer's console (SHOW POOLS, SHOW STATS)
shows the queue at the second layer: clients waiting, the longest and the average
wait, server connections active and idle.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from checks import pgbouncer
from checks.capacity import budget
from checks.capacity.decide import Decision, conclude, database_blocks, utilization_pct
from checks.capacity.demand import Fleet, largest_web_pool, name
from checks.capacity.stats import DbStats
from checks.dbconnect import CheckError
from checks.thresholds import Capacity


def decide_through(
    stats: DbStats, fleet: Fleet, bouncers: tuple[budget.Bouncer, ...], limits: Capacity
) -> tuple[Decision, list[budget.Layer]]:
    """The verdict for `fleet` behind `bouncers`, and the two budgets it was judged on."""
    util = utilization_pct(stats)
    layers = budget.check(
        fleet, stats.usable_slots, stats.max_connections, limits.headroom_connections, bouncers
    )
    server, client = layers
    blocking = database_blocks(stats, util, limits)
    if not server.fits:
        blocking.append(server.line())
    per_pool = largest_web_pool(fleet, client.budget, limits.pool_max_cap) if fleet.web else 0
    if fleet.web and per_pool < 1:
        blocking.append(client.line())
    why = _why(fleet, per_pool, client, limits) if fleet.web and per_pool >= 1 else ""
    return conclude(stats, fleet, util, client.budget, (per_pool, why), blocking), layers


def _why(fleet: Fleet, per_pool: int, client: budget.Layer, limits: Capacity) -> str:
    """What limits the recommendation through PgBouncer: its clients, or the review's cap."""
    if per_pool < limits.pool_max_cap:
        judged = replace(client, demand=fleet.with_web_pool(per_pool + 1).demand)
        return f"with more, {name(fleet)} would hold more than PgBouncer accepts ({judged.line()})"
    return f"never more than {limits.pool_max_cap} per process (pool_max_cap)"


def with_pool_size(bouncers: tuple[budget.Bouncer, ...], size: int) -> tuple[budget.Bouncer, ...]:
    """The same bouncers with their default pool set to `size` (raise_pool's question)."""
    return tuple(replace(b, pool_size=size) for b in bouncers)


def read_all(dsns: list[str]) -> tuple[list[pgbouncer.Pools], list[str]]:
    """Each bouncer's pools; the ones that did not answer as one line each."""
    seen, errors = [], []
    for dsn in dsns:
        try:
            seen.append(pgbouncer.read(dsn))
        except CheckError as exc:
            errors.append(str(exc))
    return seen, errors


def as_dict(layers: list[budget.Layer], seen: list[pgbouncer.Pools], errors: list[str]) -> dict:
    bouncers: list[dict[str, Any]] = [
        {
            "source": p.source,
            "client_waiting": p.client_waiting,
            "maxwait_s": round(p.maxwait_s, 3),
            "avg_wait_s": round(p.avg_wait_s, 6),
            "server_active": p.server_active,
            "server_idle": p.server_idle,
        }
        for p in seen
    ]
    return {
        "layers": [layer.as_dict() | {"fits": layer.fits} for layer in layers],
        "bouncers": bouncers,
        "errors": errors,
    }


def text(layers: list[budget.Layer], seen: list[pgbouncer.Pools], errors: list[str]) -> str:
    marks = [("✅ " if layer.fits else "❌ ") + layer.line() for layer in layers]
    lines = ["", "--- PGBOUNCER ---", *marks]
    for p in seen:
        lines += [
            p.source,
            f"  Clients waiting: {p.client_waiting} (longest {p.maxwait_s:.1f}s, "
            f"average {p.avg_wait_s * 1000:.1f}ms)",
            f"  Server connections: {p.server_active} active, {p.server_idle} idle",
        ]
    lines += [f"⚠️ {error}" for error in errors]
    return "\n".join(lines)
