"""The release layout: releases/<version>, `current` a relative link, a service venv
with production packages only, and every process on the release `current` names."""

from __future__ import annotations

import json
import posixpath

import pytest

from tests.deployed.layout import Layout
from tests.deployed.test_services import environ, processes

TOOLS = ("pytest", "ruff", "ansiblelint", "ansible", "testinfra", "hypothesis")


@pytest.fixture(autouse=True)
def _runs_the_app(layout: Layout) -> None:
    if not {"app", "workers"} & set(layout.groups):
        pytest.skip("not in group app or workers")


def current_release(host, layout: Layout) -> str:
    link = host.file(layout.current)
    assert link.is_symlink
    return posixpath.basename(link.linked_to)


def test_current_is_a_relative_link_to_an_installed_release(host, layout):
    target = host.check_output(f"readlink {layout.current}")
    assert target.startswith("releases/"), target
    assert host.file(f"{layout.current}/.installed").is_file


def test_the_release_says_what_it_is(host, layout):
    version = current_release(host, layout)
    release = json.loads(host.file(f"{layout.current}/release.json").content_string)
    assert release["version"] == version
    assert len(release["commit"].split("-")[0]) == 40
    assert release["built_at"].endswith("Z")


def test_the_service_venv_holds_no_tools(host, layout):
    script = (
        "import importlib.util, json; "
        f"print(json.dumps([m for m in {TOOLS!r} if importlib.util.find_spec(m)]))"
    )
    found = json.loads(host.check_output(f'{layout.python} -c "{script}"'))
    assert found == []


def test_every_process_runs_the_current_release(host, layout):
    version = current_release(host, layout)
    pids = [p.pid for p in processes(host, layout, "gunicorn")]
    pids += [p.pid for p in processes(host, layout, "rq ")]
    assert pids
    # A work horse can end between the listing and the read: its environ is None.
    environs = {pid: environ(host, pid) for pid in pids}
    running = {pid: env.get("GOALGPT_RELEASE") for pid, env in environs.items() if env is not None}
    assert running
    assert set(running.values()) == {version}, running
