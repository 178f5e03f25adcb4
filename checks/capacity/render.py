"""The probe's report: the review's text sections, or one JSON object for Ansible."""

from __future__ import annotations

from typing import Any

from checks.capacity.decide import ABOVE, Decision, shown_pct
from checks.capacity.demand import Fleet, describe, name
from checks.capacity.demand import as_dict as fleet_dict
from checks.capacity.stats import DbStats
from checks.thresholds import Capacity


def as_dict(
    stats: DbStats, decision: Decision, fleet: Fleet, limits: Capacity, requested: bool = False
) -> dict[str, Any]:
    """`requested`: the judged pool max is the one asked for (--pool-max), not the current."""
    return {
        "safe": decision.safe,
        "verdict": decision.verdict,
        "current_above_recommendation": decision.verdict == ABOVE,
        "message": decision.above_message,
        "refused": False,
        "recommended_pool_max": decision.recommended_pool_max,
        "why_recommended": decision.why_recommended,
        "current_pool_max": fleet.web_pool_max,
        "pool_max_requested": requested,
        "fleet_name": name(fleet),
        "usable_web_pool": decision.usable_pool,
        "demand": decision.demand,
        "fleet": fleet_dict(fleet),
        "budget": decision.budget,
        "server_version": stats.server_version,
        "max_connections": stats.max_connections,
        "reserved_connections": stats.reserved_slots,
        "usable_connections": stats.usable_slots,
        "connections": {
            "total": stats.total,
            "active": stats.active,
            "idle": stats.idle,
            "idle_in_transaction": stats.idle_in_transaction,
            "pools": stats.pool_connections,
            "other_applications": stats.other_connections,
        },
        "slow_queries": stats.slow_queries,
        "lock_waits": stats.lock_waits,
        "utilization_pct": decision.utilization_pct,
        "utilization_shown": shown_pct(decision.utilization_pct, limits.max_utilization_pct),
        "idle_in_transaction_sessions": [
            {
                "pid": t.pid,
                "user": t.user,
                "application": t.application,
                "age_s": round(t.age_s, 1),
                "query": t.query,
            }
            for t in stats.idle_transactions
        ],
        "warnings": list(decision.warnings),
    }


def refused_dict(reason: str) -> dict[str, Any]:
    return {
        "safe": False,
        "verdict": "not_safe",
        "current_above_recommendation": False,
        "refused": True,
        "reason": reason,
        "recommended_pool_max": None,
        "warnings": [f"PostgreSQL refused a new connection: {reason}"],
    }


def text(
    stats: DbStats, decision: Decision, fleet: Fleet, limits: Capacity, requested: bool = False
) -> str:
    s, d = stats, decision
    several = fleet.web_processes > 1 or bool(fleet.workers)
    current = fleet.web_pool_max
    lines = [
        "=== DB CAPACITY CHECK ===",
        f"{'Requested' if requested else 'Current'} pool max: {current}",
        f"Fleet: {name(fleet)}",
        *(f"  {line}" for line in describe(fleet)),
        f"Fleet demand: {d.demand} connections",
        "",
        "--- CONNECTION STATS ---",
        f"DB max_connections: {s.max_connections}",
        f"Reserved slots: {s.reserved_slots} (usable by clients: {s.usable_slots})",
        f"Current connections: {s.total}",
        f"  Active: {s.active}",
        f"  Idle: {s.idle}",
        f"  Idle in transaction: {s.idle_in_transaction}",
        f"  Held by other applications: {s.other_connections}",
        f"Connection utilization: {shown_pct(d.utilization_pct, limits.max_utilization_pct)}%",
        "",
        "--- PERFORMANCE METRICS ---",
        f"Slow queries (>{s.slow_query_s:g}s): {s.slow_queries}",
        f"Lock waits: {s.lock_waits}",
    ]
    if s.idle_transactions:
        lines += ["", "--- IDLE IN TRANSACTION ---"]
        lines += [
            f"  pid {t.pid} {t.user or '?'}/{t.application or '?'} for {t.age_s:.0f}s: {t.query}"
            for t in s.idle_transactions
        ]
    lines += [
        "",
        "--- RECOMMENDATIONS ---",
        f"Recommended pool max: {d.recommended_pool_max}"
        + (
            f" per web process (fleet demand {fleet.with_web_pool(d.recommended_pool_max).demand}"
            f" <= budget {d.budget})"
            if several
            else ""
        ),
        *([f"Limited by: {d.why_recommended}"] if d.why_recommended else []),
        f"Can increase pool? {'✅ YES' if d.safe else '❌ NO'}",
    ]
    if d.warnings:
        lines += ["", "--- WARNINGS ---", *(f"⚠️ {w}" for w in d.warnings)]
    lines.append("")
    if d.verdict == ABOVE:
        lines.append(f"❌ {d.above_message[0].upper()}{d.above_message[1:]}")
        lines.append(f"Suggested: DB_MAX_CONNECTIONS={d.recommended_pool_max}")
    elif not d.safe:
        lines.append("⚠️ FIX WARNINGS BEFORE INCREASING POOL MAX")
    else:
        passed = "All checks passed" if not d.warnings else "Checks passed (see warnings)"
        lines.append(f"✅ {passed} - safe to increase pool max")
        lines.append(f"Suggested: DB_MAX_CONNECTIONS={d.recommended_pool_max}")
    return "\n".join(lines)


def refused_text(reason: str) -> str:
    return "\n".join(
        [
            "=== DB CAPACITY CHECK ===",
            f"❌ PostgreSQL refused the probe's connection: {reason}",
            "Every usable connection slot is taken (SQLSTATE 53300).",
            "Can increase pool? ❌ NO - lower the pools or raise max_connections first",
        ]
    )
