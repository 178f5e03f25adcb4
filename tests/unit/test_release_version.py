"""A release's version is its deployed files: caches beside them do not make a new one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.support.paths import REPO


def _build_release():
    spec = importlib.util.spec_from_file_location(
        "build_release", REPO / "scripts/build_release.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path) -> Path:
    (root / "app/infra").mkdir(parents=True)
    (root / "app/infra/lock.py").write_text("LEASE_S = 30\n")
    (root / "checks").mkdir()
    (root / "pyproject.toml").write_text("[project]\n")
    (root / "constraints.txt").write_text("")
    return root


def test_caches_beside_the_code_leave_the_version_alone(tmp_path: Path) -> None:
    build = _build_release()
    repo = _tree(tmp_path)
    before = build.version_of(repo, "3.11.2")
    for cache in ("app/infra/.ruff_cache/0.17.5/123", "app/infra/__pycache__/lock.cpython-311.pyc"):
        (repo / cache).parent.mkdir(parents=True)
        (repo / cache).write_bytes(b"cache")
    assert build.version_of(repo, "3.11.2") == before


def test_a_changed_file_or_python_is_a_new_version(tmp_path: Path) -> None:
    build = _build_release()
    repo = _tree(tmp_path)
    before = build.version_of(repo, "3.11.2")
    assert build.version_of(repo, "3.11.9") != before
    (repo / "app/infra/lock.py").write_text("LEASE_S = 31\n")
    assert build.version_of(repo, "3.11.2") != before


def _packed(root: Path, content: bytes) -> Path:
    packed = root / "packed"
    packed.mkdir(parents=True)
    (packed / "release.tar").write_bytes(content)
    return packed


def test_a_build_that_loses_the_race_keeps_the_winners_release(tmp_path: Path) -> None:
    build = _build_release()
    out = tmp_path / "releases/abc"
    out.parent.mkdir()
    build.publish(_packed(tmp_path / "first", b"winner"), out)
    build.publish(_packed(tmp_path / "second", b"loser"), out)
    assert (out / "release.tar").read_bytes() == b"winner"


def test_a_rename_onto_something_that_is_not_a_release_still_fails(tmp_path: Path) -> None:
    build = _build_release()
    out = tmp_path / "releases/abc"
    (out / "half").mkdir(parents=True)
    try:
        build.publish(_packed(tmp_path / "first", b"x"), out)
    except OSError:
        return
    raise AssertionError("publish replaced a directory that held no release")
