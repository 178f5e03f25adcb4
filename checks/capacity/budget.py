"""Two budgets, one gate: PostgreSQL's slots (server side) and PgBouncer's clients
(client side), for the deploy (fleet_demand.yml), the capacity probe and raise_pool.

Direct (no PgBouncer): every process's pool is a session on PostgreSQL, so the
fleet's demand (checks/capacity/demand.py) must fit in the slots a non-superuser
can use. Through PgBouncer the two come apart:

- server side: what the bouncers can hold on the database, default + reserve pool
  for each database/user pair (one pair: the app role on the app's database) on
  every bouncer, plus every session that stays direct (DIRECT_SESSIONS), must fit
  in max_connections minus the headroom (checks/thresholds.yml);
- client side: the fleet's demand must fit in each bouncer's max_client_conn (libpq
  takes the first bouncer that answers, so any one of them may get every client).

A refusal is one line naming the layer, its numbers and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from checks.capacity.demand import Fleet, FleetError, advice

# What keeps a PostgreSQL session of its own, at most at once: migrations, the
# checks and the exporters never go through PgBouncer (advisory locks, session
# settings, pg_stat_activity of their own).
DIRECT_SESSIONS: dict[str, int] = {
    "migrations (the run and its advisory lock)": 2,
    "capacity probe": 1,
    "pool-health monitor": 1,
    "smoke gate": 1,
    "postgres_exporter": 1,
}
SERVER, CLIENT = "server side (PostgreSQL)", "client side (PgBouncer)"


@dataclass(frozen=True)
class Bouncer:
    """One PgBouncer's sizes (roles/pgbouncer)."""

    host: str
    pool_size: int
    reserve: int
    max_client_conn: int
    pairs: int = 1  # database/user pools: the app role on the app's database

    @property
    def server_connections(self) -> int:
        return (self.pool_size + self.reserve) * self.pairs


@dataclass(frozen=True)
class Layer:
    """One budget: what is asked of it and what it has."""

    name: str
    demand: int
    budget: int
    detail: str
    fix: str  # what to change, said when it does not fit

    @property
    def fits(self) -> bool:
        return self.demand <= self.budget

    def line(self) -> str:
        verdict = "within" if self.fits else "above"
        text = f"{self.name}: {self.demand} {verdict} {self.budget} ({self.detail})"
        return text if self.fits else f"{text}; {self.fix}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "demand": self.demand, "budget": self.budget}


def direct_sessions() -> int:
    return sum(DIRECT_SESSIONS.values())


def check(
    fleet: Fleet,
    usable_slots: int,
    max_connections: int,
    headroom: int,
    bouncers: tuple[Bouncer, ...] = (),
) -> list[Layer]:
    """The budgets the fleet must fit: one direct, two through PgBouncer."""
    if not bouncers:
        # advice() names each host's share and the pool that would fit.
        why, _, fix = advice(fleet, usable_slots).partition("; ")
        return [
            Layer(
                SERVER,
                fleet.demand,
                usable_slots,
                f"the fleet's pools on PostgreSQL's usable slots: {why}",
                f"{fix}, or put PgBouncer in front (a pgbouncer group in the inventory)",
            )
        ]
    pools = sum(b.server_connections for b in bouncers)
    direct = direct_sessions()
    server = Layer(
        SERVER,
        pools + direct,
        max_connections - headroom,
        f"PgBouncer's pools {pools} + {direct} direct sessions; "
        f"max_connections {max_connections} - {headroom} headroom",
        "fix: lower pgbouncer_default_pool_size or pgbouncer_reserve_pool_size, "
        "or raise max_connections (postgresql_max_connections)",
    )
    tightest = min(bouncers, key=lambda b: b.max_client_conn)
    client = Layer(
        CLIENT,
        fleet.demand,
        tightest.max_client_conn,
        f"the fleet's pools; max_client_conn on {tightest.host or '?'}",
        "fix: raise pgbouncer_max_client_conn, or fewer processes or threads",
    )
    return [server, client]


def refusal(layers: list[Layer]) -> str | None:
    """The first oversubscribed layer as one line; None when every one fits."""
    over = [layer for layer in layers if not layer.fits]
    return over[0].line() if over else None


def bouncers_from(data: Mapping[str, Any]) -> tuple[Bouncer, ...]:
    """The bouncers of a fleet description (its "bouncers" list; none: direct)."""
    try:
        return tuple(
            Bouncer(
                host=str(b.get("host", "")),
                pool_size=_whole(b, "pool_size", 1),
                reserve=_whole(b, "reserve", 0),
                max_client_conn=_whole(b, "max_client_conn", 1),
            )
            for b in data.get("bouncers") or []
        )
    except (AttributeError, TypeError) as exc:
        raise FleetError(f"not a list of bouncers: {exc}") from None


def bouncer_as_dict(bouncer: Bouncer) -> dict[str, Any]:
    return {k: v for k, v in asdict(bouncer).items() if k != "pairs"}


def _whole(item: Mapping[str, Any], name: str, minimum: int) -> int:
    value = item.get(name)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FleetError(f"bouncer {name} must be a whole number >= {minimum}, not {value!r}")
    return value


def largest_fleets(
    fleet: Fleet, max_connections: int, reserved: int, headroom: int, bouncer: Bouncer
) -> dict[str, int]:
    """How many web processes like `fleet`'s first group (its workers kept) each mode admits."""

    def admitted(bouncers: tuple[Bouncer, ...]) -> int:
        processes = 0
        while True:
            web = replace(fleet.web[0], processes=processes + 1)
            bigger = replace(fleet, web=(web,))
            usable = max_connections - reserved
            if refusal(check(bigger, usable, max_connections, headroom, bouncers)):
                return processes
            processes += 1

    return {"direct": admitted(()), "through PgBouncer": admitted((bouncer,))}
