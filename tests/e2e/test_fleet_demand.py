"""The deploy refuses, before it changes anything, an inventory that oversubscribes
the database, or through PgBouncer either of its two layers (playbooks/fleet_demand.yml,
checks/capacity/budget.py on the formula of checks/capacity/demand.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.deployment import Deployment

pytestmark = [pytest.mark.e2e]


class Oversubscribed(Deployment):
    """The e2e layout, connecting directly, against a database of 10 slots (7 usable):
    2 web x min(5, 4 + 2) + 2 workers x 2 = 14 connections."""

    def variables(self) -> dict[str, object]:
        return super().variables() | {
            "postgresql_max_connections": 10,
            "goalgpt_pgbouncer_enabled": False,
        }


class BouncerOversubscribed(Deployment):
    """The e2e layout through PgBouncer with the variables of one test."""

    def __init__(self, **changes: object) -> None:
        self.changes = changes
        super().__init__()

    def variables(self) -> dict[str, object]:
        return super().variables() | self.changes


@pytest.fixture
def oversubscribed() -> Iterator[Deployment]:
    made = Oversubscribed()
    try:
        yield made
    finally:
        made.teardown()


def refused_before_anything_changed(deployment: Deployment) -> str:
    """deploy.yml's output, once it is seen to stop at the fleet demand with nothing done."""
    run = deployment.playbook("deploy.yml")
    assert run.returncode != 0
    assert "Refusing to deploy, nothing was changed" in run.output
    assert run.changed() == {"localhost": 0}
    assert sorted(p.name for p in deployment.root.iterdir()) == ["inventory.json", "log", "pglog"]
    return " ".join(run.output.split())


@pytest.mark.parametrize(
    ("changes", "refusal"),
    [
        # 14 connections of the processes' pools against 13 client connections.
        (
            {"pgbouncer_max_client_conn": 13},
            "client side (PgBouncer): 14 above 13 (the fleet's pools; max_client_conn on "
            "localhost); fix: raise pgbouncer_max_client_conn",
        ),
        # 50 + 5 pooled and 6 direct sessions against 80 - 23 headroom.
        (
            {"pgbouncer_default_pool_size": 50, "postgresql_max_connections": 80},
            "server side (PostgreSQL): 61 above 57 (PgBouncer's pools 55 + 6 direct sessions; "
            "max_connections 80 - 23 headroom); fix: lower pgbouncer_default_pool_size",
        ),
    ],
    ids=["client-side", "server-side"],
)
def test_through_pgbouncer_either_layer_oversubscribed_is_refused_naming_it(changes, refusal):
    deployment = BouncerOversubscribed(**changes)
    try:
        assert refusal in refused_before_anything_changed(deployment)
    finally:
        deployment.teardown()


def test_an_oversubscribed_inventory_is_refused_with_the_numbers_and_nothing_changes(
    oversubscribed,
):
    output = refused_before_anything_changed(oversubscribed)

    assert "server side (PostgreSQL): 14 above 7" in output
    assert "the fleet can hold 14 connections at once but PostgreSQL has 7 usable slots" in output
    assert "lower the web pool (goalgpt_base_db_max_connections) to 1 or less" in output
