"""An operator's first day on the e2e deployment, as docs/operating.md tells it: which
release runs (/healthz), tools run through bin/goalgpt-env from anywhere (the deployed
values win over the caller's), and `make demo-data` loads sample data the API serves.
Leaves the tables empty again, as the later tests found them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.request

import pytest

from tests.support.deployment import REPO, Deployment, PlaybookRun

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DEMO = "--matches 200 --predictions 1000 --live 5 --replace"
EMPTY = "--matches 0 --predictions 0 --live 0 --replace"


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


def make_demo_data(deployment: Deployment, args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "demo-data", f"INVENTORY={deployment.inventory}", f"DEMO_ARGS={args}"],
        cwd=REPO,
        env=os.environ | {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def through_goalgpt_env(
    deployment: Deployment, *argv: str, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    """A tool as docs/operating.md runs it: from /, with a misleading environment exported."""
    command = [str(deployment.root / "opt/goalgpt/bin/goalgpt-env"), *argv]
    if user:
        command = ["runuser", "-u", user, "--", *command]
    misleading = {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "REDIS_URL": ""}
    return subprocess.run(
        command,
        cwd="/",
        env=os.environ | misleading,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_healthz_names_the_release_the_deploy_installed(
    first_deploy: PlaybookRun, deployment: Deployment
):
    assert first_deploy.returncode == 0
    current = deployment.root / "opt" / "goalgpt" / "current"
    written = json.loads((current / "release.json").read_text())
    release = get_json(f"{deployment.base_url}/healthz")["release"]

    assert release == {k: written[k] for k in ("version", "commit", "built_at")}
    assert release["version"] == current.resolve().name
    # The commit the release was first built from (a later commit that changes no
    # deployed file is the same release): git's full hash, -dirty if files differed.
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", release["commit"])


def test_goalgpt_env_gives_root_and_the_service_user_the_deployed_environment(
    first_deploy: PlaybookRun, deployment: Deployment
):
    assert first_deploy.returncode == 0
    python = str(deployment.venv / "bin" / "python")

    checks = through_goalgpt_env(deployment, python, "-m", "checks.dependencies")
    stats = through_goalgpt_env(
        deployment, python, "-m", "app.jobs", "stats", "--json", user=deployment.user
    )

    assert checks.returncode == 0, checks.stdout + checks.stderr
    assert checks.stdout.splitlines() == ["postgres: ok", "redis: ok", "queue_redis: ok"]
    assert stats.returncode == 0, stats.stderr
    json.loads(stats.stdout)


def test_make_demo_data_loads_sample_data_that_the_api_serves(
    first_deploy: PlaybookRun, deployment: Deployment
):
    assert first_deploy.returncode == 0
    try:
        loaded = make_demo_data(deployment, DEMO)
        assert loaded.returncode == 0, loaded.stdout[-3000:]
        assert "changed=1" in loaded.stdout
        # A key no other test asks for; an empty answer cached before the load expires
        # within the TTL plus the stale window (60 s by default).
        url = f"{deployment.base_url}/api/predictions/matched?limit=9&status=pending"
        deadline = time.monotonic() + 75
        while (body := get_json(url))["count"] < 9 and time.monotonic() < deadline:
            time.sleep(2)
        assert body["count"] == 9
        assert all(p["status"] == "pending" and p["match"]["id"] for p in body["predictions"])

        refused = make_demo_data(deployment, "--matches 100 --predictions 10")
        assert refused.returncode != 0
        assert "already hold rows: pass --replace" in " ".join(refused.stdout.split())
    finally:
        emptied = make_demo_data(deployment, EMPTY)
    assert emptied.returncode == 0, emptied.stdout[-3000:]
