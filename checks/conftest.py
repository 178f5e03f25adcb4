"""Fixtures of the smoke gate: the deployment under test, named by the environment."""

from __future__ import annotations

import os

import pytest

from checks import smoke, thresholds


def pytest_report_header(config: pytest.Config) -> str:
    return f"goalgpt smoke gate against {', '.join(smoke.base_urls())}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A check that takes `base_url` runs once per app host."""
    if "base_url" in metafunc.fixturenames:
        metafunc.parametrize("base_url", smoke.base_urls())


@pytest.fixture(scope="session")
def limits() -> thresholds.Thresholds:
    try:
        return thresholds.load(os.environ.get("GOALGPT_THRESHOLDS") or None)
    except thresholds.ThresholdsError as exc:
        smoke.fail(str(exc))


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        smoke.fail("DATABASE_URL is not set: export the deployment's database URL")
    return url


@pytest.fixture(scope="session")
def monitor_dsn(database_url: str) -> str:
    return os.environ.get("GOALGPT_MONITOR_DSN") or database_url
