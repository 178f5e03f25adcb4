"""The e2e deployment: made once for the session, removed afterwards even on failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.deployment import FULL_CONVERGE, Deployment, PlaybookRun


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


@pytest.fixture(scope="session")
def second_deploy(first_deploy: PlaybookRun, deployment: Deployment) -> PlaybookRun:
    """`make deploy` again, at -vvv and past the receipts: the run in which every role
    must change nothing, and whose every line is searched for a password (one no-op
    deploy serves both tests)."""
    assert first_deploy.returncode == 0, first_deploy.tail()
    return deployment.playbook("deploy.yml", "-vvv", *FULL_CONVERGE)
