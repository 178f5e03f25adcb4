"""The deploy refuses, before it changes anything, an inventory that oversubscribes
the database (playbooks/fleet_demand.yml, the formula of checks/capacity/demand.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.deployment import Deployment

pytestmark = [pytest.mark.e2e]


class Oversubscribed(Deployment):
    """The e2e layout against a database of 10 slots (7 usable): 2 web x min(5, 4 + 2)
    + 2 workers x 2 = 14 connections."""

    def variables(self) -> dict[str, object]:
        return super().variables() | {"postgresql_max_connections": 10}


@pytest.fixture
def oversubscribed() -> Iterator[Deployment]:
    made = Oversubscribed()
    try:
        yield made
    finally:
        made.teardown()


def test_an_oversubscribed_inventory_is_refused_with_the_numbers_and_nothing_changes(
    oversubscribed,
):
    run = oversubscribed.playbook("deploy.yml")

    assert run.returncode != 0
    assert "Refusing to deploy, nothing was changed" in run.output
    assert "the fleet can hold 14 connections at once but PostgreSQL has 7 usable slots" in (
        " ".join(run.output.split())
    )
    assert "lower the web pool (goalgpt_base_db_max_connections) to 1 or less" in " ".join(
        run.output.split()
    )
    assert run.changed() == {"localhost": 0}
    assert sorted(p.name for p in oversubscribed.root.iterdir()) == [
        "inventory.json",
        "log",
        "pglog",
    ]
