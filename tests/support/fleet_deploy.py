"""`make deploy` onto the lab, timed: the fleet tests' one deployment and their redeploys."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.deployment import PlaybookRun, run_playbook


@dataclass
class TimedRun:
    run: PlaybookRun
    seconds: float


def deploy(inventory: Path, *args: str, timeout: float = 1800) -> TimedRun:
    """playbooks/deploy.yml on the lab's inventory, as `make deploy INVENTORY=...` runs it."""
    started = time.monotonic()
    run = run_playbook(inventory, "deploy.yml", *args, timeout=timeout)
    return TimedRun(run, time.monotonic() - started)
