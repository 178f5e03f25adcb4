"""A deploy's receipt (library/goalgpt_receipt.py) on real files, run as Ansible runs it,
and the digest of a deploy's inputs (plugins/lookup/goalgpt_inputs.py): a host matches
its receipt until anything it watches changes, and then says what."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader

from tests.support.modules import run_ansible_module
from tests.support.paths import REPO

INPUTS = "0" * 64


def receipt(tmp_path: Path, state: str = "check", check: bool = False, **more: object) -> dict:
    args = {"path": str(tmp_path / "var" / "receipt.json"), "inputs": INPUTS} | more
    args.setdefault("watch", [str(tmp_path / "etc")])
    return run_ansible_module(tmp_path, "goalgpt_receipt", check, state=state, **args)


@pytest.fixture
def written(tmp_path: Path) -> Path:
    """A folder with a file, a link and a subfolder, and a receipt of it."""
    etc = tmp_path / "etc"
    (etc / "goalgpt").mkdir(parents=True)
    (etc / "goalgpt" / "goalgpt.env").write_text("A=1\n")
    (etc / "current").symlink_to("releases/1")
    assert receipt(tmp_path, "write")["changed"]
    return etc


def test_no_receipt_is_no_match_and_a_written_one_matches_until_something_changes(tmp_path):
    assert receipt(tmp_path)["why"].startswith("no receipt")
    (tmp_path / "etc").mkdir()
    assert receipt(tmp_path, "write")["changed"]
    assert not receipt(tmp_path, "write")["changed"]  # the same: nothing rewritten
    assert receipt(tmp_path) == {**receipt(tmp_path), "converged": True, "why": ""}


@pytest.mark.parametrize(
    "change",
    [
        lambda etc: (etc / "goalgpt" / "goalgpt.env").write_text("A=2\n"),
        lambda etc: (etc / "goalgpt" / "goalgpt.env").chmod(0o600),
        lambda etc: (etc / "goalgpt" / "new.conf").write_text(""),
        lambda etc: (etc / "goalgpt" / "goalgpt.env").unlink(),
        lambda etc: ((etc / "current").unlink(), (etc / "current").symlink_to("releases/0")),
    ],
    ids=["content", "mode", "a-new-file", "a-removed-file", "a-link-moved"],
)
def test_a_change_below_a_watched_folder_is_named(tmp_path, written, change):
    change(written)
    found = receipt(tmp_path)
    assert found["converged"] is False
    assert found["why"] == f"{written} changed since the last deploy"


def test_other_inputs_a_changed_command_output_and_a_stopped_service_are_named(tmp_path, written):
    other = receipt(tmp_path, inputs="1" * 64)
    assert other["why"].startswith("what the deploy is made from changed")

    flag = tmp_path / "flag"
    command = [sys.executable, "-c", f"print(open({str(flag)!r}).read())"]
    flag.write_text("loaded")
    receipt(tmp_path, "write", commands=[command])
    flag.write_text("flushed")
    assert (
        receipt(tmp_path, commands=[command])["why"]
        == f"{' '.join(command)} changed since the last deploy"
    )

    ctl = fake_supervisorctl(tmp_path, "goalgpt-web RUNNING pid 1, uptime 0:01:00")
    receipt(tmp_path, "write", supervisorctl=[str(ctl)])
    later = fake_supervisorctl(tmp_path, "goalgpt-web RUNNING pid 7, uptime 2:00:00")
    assert receipt(tmp_path, supervisorctl=[str(later)])["converged"]  # pid and uptime move
    other = fake_supervisorctl(tmp_path, "goalgpt-web RUNNING pid 7\nsomeone-else RUNNING pid 9")
    assert receipt(tmp_path, supervisorctl=[str(other)])["converged"]  # not one of ours
    more = fake_supervisorctl(tmp_path, "goalgpt-web RUNNING pid 7\ngoalgpt-cron RUNNING pid 8")
    assert (
        receipt(tmp_path, supervisorctl=[str(more)])["why"]
        == "goalgpt-cron running, which the last deploy did not leave"
    )
    stopped = fake_supervisorctl(tmp_path, "goalgpt-web STOPPED Dec 07 10:00 PM")
    assert receipt(tmp_path, supervisorctl=[str(stopped)])["why"] == "goalgpt-web no longer running"


def fake_supervisorctl(tmp_path: Path, line: str) -> Path:
    """A stand-in that prints status lines, as `supervisorctl status` does."""
    script = tmp_path / f"ctl-{abs(hash(line))}"
    script.write_text(f"#!/bin/sh\nprintf '{line}\\n'\n")
    script.chmod(0o755)
    return script


def test_absent_removes_the_receipt_and_check_mode_writes_nothing(tmp_path, written):
    path = tmp_path / "var" / "receipt.json"
    before = path.read_text()
    (written / "goalgpt" / "goalgpt.env").write_text("A=2\n")
    assert receipt(tmp_path, "write", check=True)["changed"]  # would write another
    assert receipt(tmp_path, "absent", check=True)["changed"]  # would remove it
    assert path.read_text() == before
    assert receipt(tmp_path, "absent")["changed"] and not path.exists()
    assert not receipt(tmp_path, "absent")["changed"]  # nothing left to remove
    receipt(tmp_path, "write")
    assert sorted(p.name for p in path.parent.iterdir()) == ["receipt.json"]  # no temp file


def test_a_receipt_older_than_its_age_no_longer_matches(tmp_path, written):
    path = tmp_path / "var" / "receipt.json"
    for age_days, why in ((0.9, ""), (1.1, "the receipt is older than 1 days")):
        made = json.loads(path.read_text()) | {"written_at": time.time() - age_days * 86400}
        path.write_text(json.dumps(made))
        assert receipt(tmp_path, max_age_s=86400)["why"] == why


def load_lookup():
    spec = importlib.util.spec_from_file_location(
        "goalgpt_inputs", REPO / "plugins" / "lookup" / "goalgpt_inputs.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.LookupModule()


def test_the_inputs_digest_changes_with_any_file_the_release_and_the_extra_vars(
    tmp_path, monkeypatch
):
    from ansible import context
    from ansible.utils.vars import load_extra_vars

    lookup = load_lookup()
    lookup._loader = DataLoader()
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text("all: {}\n")

    def digest(**kwargs: object) -> str:
        return lookup.run([["roles"], str(inventory)], **kwargs)[0]

    def given(*extra_vars: str) -> None:
        monkeypatch.setattr(context, "CLIARGS", {"extra_vars": extra_vars})
        monkeypatch.setattr(load_extra_vars, "extra_vars", None, raising=False)  # its cache

    given()
    first = digest()
    assert digest() == first
    (inventory / "hosts.yml").write_text("all: {hosts: {a: {}}}\n")
    second = digest()
    assert second != first
    os.mkdir(inventory / "__pycache__")
    (inventory / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    assert digest() == second  # caches are not inputs

    release = tmp_path / "release"
    for name in ("app", "checks"):
        (release / name).mkdir(parents=True)
    (release / "pyproject.toml").write_text("")
    (release / "constraints.txt").write_text("")
    elsewhere = digest(release_repo=str(release))
    assert elsewhere != second
    (release / "app" / "new.py").write_text("")
    assert digest(release_repo=str(release)) != elsewhere

    given("db_max_connections=60")
    assert digest() != second
    given("goalgpt_deploy_full=true")
    assert digest(ignore=["goalgpt_deploy_full"]) == second != digest()
