"""The fleet's connection demand: one formula for the probe, the deploy and raise_pool.

What each process can really hold at once:

- a gunicorn (gthread) web process: min(pool max, request threads + background
  refreshes). Each request thread holds at most one connection, and so does each
  background refresh of a stale key (PREDICTIONS_MAX_REFRESHES): a pool larger
  than that never fills, so raising DB_MAX_CONNECTIONS beyond it changes nothing;
- an rq worker process: its job pool, JOB_DB_MAX_CONNECTIONS (default 2). A worker
  runs one job at a time, in a work horse that opens that pool; it never uses
  DB_MAX_CONNECTIONS, which is the web pool's size;
- a web process whose threads are unknown (`threads=None`, the probe given only
  --web-processes): its whole pool max.

`name()` and `describe()` are how every report names the fleet: the probe's
header and verdict, raise_pool's plan and refusal, the docs' examples.

Summed over the fleet from the inventory, the demand must fit in the slots a
non-superuser can use: max_connections minus the reserved ones.

The fleet is described as a dict (the deploy writes it to each host, Ansible
builds it from the inventory):

    {"web": [{"host": "app-1", "processes": 2, "threads": 4, "refreshes": 2, "pool_max": 50}],
     "workers": [{"host": "worker-1", "processes": 2, "pool_max": 2}]}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


class FleetError(ValueError):
    """The fleet description is unusable; the message is one line."""


@dataclass(frozen=True)
class WebGroup:
    """The web processes of one host (gunicorn workers), all alike."""

    processes: int
    pool_max: int
    threads: int | None = None  # None: unknown, the pool max counts
    refreshes: int = 0
    host: str = ""

    @property
    def usable_pool(self) -> int | None:
        """The most connections one process can hold whatever its pool max (None: unbounded)."""
        return None if self.threads is None else self.threads + self.refreshes

    @property
    def per_process(self) -> int:
        usable = self.usable_pool
        return self.pool_max if usable is None else min(self.pool_max, usable)


@dataclass(frozen=True)
class WorkerGroup:
    """The rq worker processes of one host, each with its job pool."""

    processes: int
    pool_max: int
    host: str = ""

    @property
    def per_process(self) -> int:
        return self.pool_max


@dataclass(frozen=True)
class Fleet:
    web: tuple[WebGroup, ...] = ()
    workers: tuple[WorkerGroup, ...] = ()

    @property
    def demand(self) -> int:
        """Connections the whole fleet can hold at once."""
        groups = (*self.web, *self.workers)
        return sum(g.processes * g.per_process for g in groups)

    @property
    def web_processes(self) -> int:
        return sum(g.processes for g in self.web)

    @property
    def worker_processes(self) -> int:
        return sum(g.processes for g in self.workers)

    @property
    def worker_demand(self) -> int:
        return sum(g.processes * g.per_process for g in self.workers)

    @property
    def web_pool_max(self) -> int:
        """The web pool max (the largest, if hosts differ)."""
        return max((g.pool_max for g in self.web), default=0)

    @property
    def usable_web_pool(self) -> int | None:
        """The largest web pool any process can fill (None: unbounded)."""
        usable = [g.usable_pool for g in self.web]
        if not usable or None in usable:
            return None
        return max(u for u in usable if u is not None)

    def with_web_pool(self, pool_max: int) -> Fleet:
        """The same fleet with every web process's pool max set to `pool_max`."""
        return replace(self, web=tuple(replace(g, pool_max=pool_max) for g in self.web))


def single_pool(processes: int, pool_max: int) -> Fleet:
    """`processes` web processes of unknown threads, each counted at its whole pool."""
    return Fleet(web=(WebGroup(processes=processes, pool_max=pool_max),))


def name(fleet: Fleet) -> str:
    """'2 web processes + 2 workers': what the fleet is made of."""
    parts = [_count(fleet.web_processes, "web process", "web processes")]
    if fleet.workers:
        parts.append(_count(fleet.worker_processes, "worker", "workers"))
    return " + ".join(parts)


def describe(fleet: Fleet) -> list[str]:
    """One line per host group: where its processes run and what each can hold."""
    lines = []
    for g in fleet.web:
        where = f" on {g.host}" if g.host else ""
        if g.threads is None:
            holds = f"each counted at its whole pool max {g.pool_max} (threads unknown)"
        else:
            holds = (
                f"pool max {g.pool_max}, each holds at most {g.per_process} "
                f"({g.threads} threads + {g.refreshes} refreshes)"
            )
        lines.append(f"{_count(g.processes, 'web process', 'web processes')}{where}: {holds}")
    for w in fleet.workers:
        where = f" on {w.host}" if w.host else ""
        lines.append(
            f"{_count(w.processes, 'worker', 'workers')}{where}: job pool {w.pool_max} each"
        )
    return lines


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def largest_web_pool(fleet: Fleet, budget: int, cap: int) -> int:
    """The largest web pool max <= cap with which the fleet's demand fits in `budget` (0: none)."""
    for pool_max in range(cap, 0, -1):
        if fleet.with_web_pool(pool_max).demand <= budget:
            return pool_max
    return 0


def from_dict(data: Mapping[str, Any]) -> Fleet:
    """A Fleet from its dict form; FleetError names the first bad field."""
    try:
        web = tuple(
            WebGroup(
                processes=_whole(g, "processes", 0),
                pool_max=_whole(g, "pool_max", 1),
                threads=None if g.get("threads") is None else _whole(g, "threads", 1),
                refreshes=_whole(g, "refreshes", 0, default=0),
                host=str(g.get("host", "")),
            )
            for g in data.get("web") or []
        )
        workers = tuple(
            WorkerGroup(
                processes=_whole(g, "processes", 0),
                pool_max=_whole(g, "pool_max", 1),
                host=str(g.get("host", "")),
            )
            for g in data.get("workers") or []
        )
    except (AttributeError, TypeError) as exc:
        raise FleetError(f"not a fleet description: {exc}") from None
    if not web and not workers:
        raise FleetError("the fleet has no web and no worker processes")
    return Fleet(web, workers)


def as_dict(fleet: Fleet) -> dict[str, Any]:
    return {
        "web": [
            {
                "host": g.host,
                "processes": g.processes,
                "threads": g.threads,
                "refreshes": g.refreshes,
                "pool_max": g.pool_max,
                "per_process": g.per_process,
            }
            for g in fleet.web
        ],
        "workers": [
            {"host": g.host, "processes": g.processes, "pool_max": g.pool_max}
            for g in fleet.workers
        ],
        "demand": fleet.demand,
    }


def _whole(group: Mapping[str, Any], name: str, minimum: int, default: int | None = None) -> int:
    value = group.get(name, default)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise FleetError(f"{name} must be a whole number of {minimum} or more, not {value!r}")
    return value


def advice(fleet: Fleet, usable_slots: int) -> str:
    """Why the demand does not fit and what would make it fit, in one sentence."""
    lines = [
        f"the fleet can hold {fleet.demand} connections at once but PostgreSQL has "
        f"{usable_slots} usable slots"
    ]
    parts = [
        f"{g.processes} web x {g.per_process} on {g.host or '?'}" for g in fleet.web if g.processes
    ] + [
        f"{g.processes} workers x {g.pool_max} on {g.host or '?'}"
        for g in fleet.workers
        if g.processes
    ]
    if parts:
        lines.append("(" + " + ".join(parts) + ")")
    room = usable_slots - fleet.worker_demand
    per_web = room // fleet.web_processes if fleet.web_processes else 0
    fix = "fix: raise max_connections (postgresql_max_connections)"
    if per_web >= 1:  # a smaller web pool fixes it only if each can keep a connection
        fix += (
            f", or lower the web pool (goalgpt_base_db_max_connections) to "
            f"{per_web} or less, or fewer web threads or processes"
        )
    fix += ", or fewer worker processes (goalgpt_workers_count) or JOB_DB_MAX_CONNECTIONS"
    return " ".join(lines) + "; " + fix
