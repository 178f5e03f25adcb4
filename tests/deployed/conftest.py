"""testinfra suite for a deployed GoalGPT: `pytest tests/deployed --hosts=ansible://app
--ansible-inventory=inventory/local` (any inventory; run it as root or with sudo rights).

The layout (paths, ports, service user) is read from the inventory's variables,
falling back to the roles' defaults, so the suite checks whatever the inventory
deployed. Without --hosts every test here is skipped: `make test` runs the suite
for real from tests/e2e, against the deployment it makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import testinfra

from tests.deployed.layout import Layout


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("hosts", None):
        return
    skip = pytest.mark.skip(
        reason="needs a deployment: --hosts=ansible://app --ansible-inventory=..."
    )
    for item in items:
        if item.path.is_relative_to(config.rootpath / "tests" / "deployed"):
            item.add_marker(skip)


@dataclass(frozen=True)
class Fleet:
    """Every host of the inventory's worker group, for checks across the fleet."""

    workers: list[testinfra.host.Host]


@pytest.fixture(scope="module")
def layout(host) -> Layout:
    return Layout.from_variables(host.ansible.get_variables())


@pytest.fixture(scope="session")
def fleet(request: pytest.FixtureRequest) -> Fleet:
    inventory = request.config.getoption("ansible_inventory")
    hosts = testinfra.get_hosts(["ansible://workers"], ansible_inventory=inventory)
    return Fleet(workers=hosts)
