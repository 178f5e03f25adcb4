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
