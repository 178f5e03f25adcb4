"""Releases on the e2e deployment: a new release rolls out beside the old one (and
with fewer workers, the extra one is gone), rollback.yml puts the previous back.
Runs after test_deploy.py and test_raise_pool.py on the same deployment."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deployment import Deployment
from tests.support.releases import other_checkout

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def link(deployment: Deployment, name: str) -> str:
    return (deployment.root / "opt" / "goalgpt" / name).readlink().as_posix()


def releases_running(deployment: Deployment) -> dict[str, str]:
    """supervisord program -> GOALGPT_RELEASE of its process."""
    found = {}
    for name, pid in deployment.service_pids().items():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        values = [
            e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"GOALGPT_RELEASE=")
        ]
        found[name] = values[0] if values else ""
    return found


def worker_programs(deployment: Deployment) -> list[str]:
    return sorted(name for name in deployment.service_pids() if name.startswith("goalgpt-worker"))


def test_new_release_rolls_out_and_rollback_puts_the_previous_back(
    first_deploy, deployment: Deployment, tmp_path: Path
):
    assert first_deploy.returncode == 0
    old = link(deployment, "current")
    checkout = other_checkout(tmp_path, "tests/e2e/test_releases.py")

    rolled = deployment.playbook(
        "deploy.yml",
        "-e",
        f"goalgpt_base_repo_dir={checkout}",
        "-e",
        "goalgpt_workers_count=1",
    )
    assert rolled.returncode == 0, rolled.tail()
    new = link(deployment, "current")
    assert new != old and new.startswith("releases/")
    assert link(deployment, "previous") == old
    assert set(releases_running(deployment).values()) == {Path(new).name}
    assert worker_programs(deployment) == ["goalgpt-worker:goalgpt-worker-00"]

    back = deployment.playbook("rollback.yml")
    assert back.returncode == 0, back.tail()
    assert link(deployment, "current") == old
    assert link(deployment, "previous") == new
    assert set(releases_running(deployment).values()) == {Path(old).name}
    assert len(worker_programs(deployment)) == 2
    assert (deployment.root / "opt" / "goalgpt" / new / ".installed").is_file()
