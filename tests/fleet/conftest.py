"""The fleet deployment: `make deploy` onto the lab (the session fixture `lab`), once per run,
and a second one (at -vvv, so its output can be searched for secrets)."""

from __future__ import annotations

import pytest

from tests.support.deployment import FULL_CONVERGE
from tests.support.fleet_deploy import TimedRun, deploy


@pytest.fixture(scope="session")
def first_fleet_deploy(lab) -> TimedRun:
    """The lab deployed: from nothing on a fresh lab, an update on one already up."""
    return deploy(lab.inventory_path)


@pytest.fixture(scope="session")
def second_fleet_deploy(first_fleet_deploy, lab) -> TimedRun:
    """The same deploy again, at -vvv and past the receipts (every role runs): it must
    change nothing and show no secret."""
    assert first_fleet_deploy.run.returncode == 0, first_fleet_deploy.run.tail()
    return deploy(lab.inventory_path, "-vvv", *FULL_CONVERGE)
