"""Ansible filter: the fleet's database demand from the inventory, by checks/capacity/demand.py.

One formula for the probe, the deploy and raise_pool: this filter only turns the
inventory's per-host settings into the formula's input, taking every default
from app/config/schema.py (the app's own settings), never from a copy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.config import Settings
from checks import thresholds
from checks.capacity import budget, demand


def _setting(part: dict[str, Any], name: str) -> int:
    settings = part.get("settings") or {}
    value = settings.get(name, Settings.model_fields[name].default)
    return int(value)


def goalgpt_fleet(
    parts: list[dict[str, Any]],
    usable_slots: int,
    max_connections: int = 0,
    bouncers: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Each part: {host, web_processes, web_threads, pool_max, worker_processes, settings}
    (web_* only on app hosts, worker_processes only on worker hosts). `bouncers`: each
    PgBouncer's {host, pool_size, reserve, max_client_conn} when the app goes through
    them (checks/capacity/budget.py: then a server and a client budget)."""
    data: dict[str, list[dict[str, Any]]] = {"web": [], "workers": []}
    for part in parts:
        if part.get("web_processes") is not None:
            data["web"].append(
                {
                    "host": part["host"],
                    "processes": int(part["web_processes"]),
                    "threads": int(part["web_threads"]),
                    "refreshes": _setting(part, "PREDICTIONS_MAX_REFRESHES"),
                    "pool_max": int(part["pool_max"]),
                }
            )
        if part.get("worker_processes") is not None:
            data["workers"].append(
                {
                    "host": part["host"],
                    "processes": int(part["worker_processes"]),
                    "pool_max": _setting(part, "JOB_DB_MAX_CONNECTIONS"),
                }
            )
    fleet = demand.from_dict(data)
    gates = budget.bouncers_from({"bouncers": bouncers or []})
    layers = budget.check(
        fleet,
        usable_slots=int(usable_slots),
        max_connections=int(max_connections),
        headroom=thresholds.load().capacity.headroom_connections,
        bouncers=gates,
    )
    refused = budget.refusal(layers)
    # The probe reads the bouncers from the same file (GOALGPT_FLEET_FILE).
    described = demand.as_dict(fleet) | {"bouncers": [budget.bouncer_as_dict(b) for b in gates]}
    return {
        "fleet": described,
        "demand": fleet.demand,
        "usable_slots": int(usable_slots),
        "layers": [layer.line() for layer in layers],
        "fits": refused is None,
        "usable_web_pool": fleet.usable_web_pool,
        "message": refused or "; ".join(layer.line() for layer in layers),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"goalgpt_fleet": goalgpt_fleet}
