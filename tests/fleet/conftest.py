"""The fleet deployment: `make deploy` onto the lab (the session fixture `lab`), once per run."""

from __future__ import annotations

import pytest

from tests.support.fleet_deploy import TimedRun, deploy


@pytest.fixture(scope="session")
def first_fleet_deploy(lab) -> TimedRun:
    """The lab deployed: from nothing on a fresh lab, an update on one already up."""
    return deploy(lab.inventory_path)
