"""The fleet deployment: `make deploy` onto the lab (the session fixture `lab`), once per run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.fixture(scope="session")
def first_fleet_deploy(lab) -> TimedRun:
    """The lab deployed: from nothing on a fresh lab, an update on one already up."""
    return deploy(lab.inventory_path)
