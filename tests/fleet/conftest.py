"""The fleet deployment: `make deploy` onto the lab (the session fixture `lab`), once per run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.deployment import REPO, PlaybookRun


@dataclass
class TimedRun:
    run: PlaybookRun
    seconds: float


def deploy(inventory: Path, *args: str, timeout: float = 1800) -> TimedRun:
    """playbooks/deploy.yml on the lab's inventory, as `make deploy INVENTORY=...` runs it."""
    argv = [
        str(Path(sys.executable).parent / "ansible-playbook"),
        str(REPO / "playbooks" / "deploy.yml"),
        "-i",
        str(inventory),
        *args,
    ]
    env = os.environ | {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    started = time.monotonic()
    done = subprocess.run(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return TimedRun(PlaybookRun(done.returncode, done.stdout), time.monotonic() - started)


@pytest.fixture(scope="session")
def first_fleet_deploy(lab) -> TimedRun:
    """The lab deployed: from nothing on a fresh lab, an update on one already up."""
    return deploy(lab.inventory_path)
