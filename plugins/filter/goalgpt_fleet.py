"""Ansible filter: the fleet's database demand from the inventory, by checks/capacity/demand.py.

One formula for the probe, the deploy and raise_pool: this filter only turns the
inventory's per-host settings into the formula's input, taking every default
from app/config.py (the app's own settings), never from a copy.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.config import Settings
from checks.capacity import demand


def _setting(part: dict[str, Any], name: str) -> int:
    settings = part.get("settings") or {}
    value = settings.get(name, Settings.model_fields[name].default)
    return int(value)


def goalgpt_fleet(parts: list[dict[str, Any]], usable_slots: int) -> dict[str, Any]:
    """Each part: {host, web_processes, web_threads, pool_max, worker_processes, settings}
    (web_* only on app hosts, worker_processes only on worker hosts)."""
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
    fits = fleet.demand <= int(usable_slots)
    return {
        "fleet": demand.as_dict(fleet),
        "demand": fleet.demand,
        "usable_slots": int(usable_slots),
        "fits": fits,
        "usable_web_pool": fleet.usable_web_pool,
        "message": (
            f"the fleet can hold {fleet.demand} connections at once, within the "
            f"{usable_slots} usable slots"
            if fits
            else demand.advice(fleet, int(usable_slots))
        ),
    }


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"goalgpt_fleet": goalgpt_fleet}
