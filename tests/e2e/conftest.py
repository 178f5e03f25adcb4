"""The e2e deployment: made once for the session, removed afterwards even on failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.deployment import Deployment, PlaybookRun


@pytest.fixture(scope="session")
def deployment() -> Iterator[Deployment]:
    made = Deployment()
    try:
        yield made
    finally:
        made.teardown()


@pytest.fixture(scope="session")
def first_deploy(deployment: Deployment) -> PlaybookRun:
    """`make deploy` from nothing, onto the isolated root."""
    return deployment.playbook("deploy.yml")
