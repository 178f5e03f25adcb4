"""The running release's identity (app/release.py), as /healthz reports it."""

from __future__ import annotations

import json
from pathlib import Path

from app import release


def test_release_file_is_beside_the_venv_the_process_runs_from():
    assert release.release_file("/opt/goalgpt/releases/abc123/venv") == Path(
        "/opt/goalgpt/releases/abc123/release.json"
    )


def test_identity_reports_version_commit_and_build_time(tmp_path: Path):
    path = tmp_path / "release.json"
    written = {"version": "abc123", "commit": "f00d", "built_at": "2026-12-02T09:00:00Z"}
    path.write_text(json.dumps(written | {"wheel": "x.whl", "python": "3.11.2"}))
    assert release.identity(path) == written


def test_identity_names_a_missing_field_unknown(tmp_path: Path):
    path = tmp_path / "release.json"
    path.write_text(json.dumps({"version": "abc123"}))
    assert release.identity(path) == {
        "version": "abc123",
        "commit": "unknown",
        "built_at": "unknown",
    }


def test_identity_is_none_outside_a_release_or_for_a_broken_file(tmp_path: Path):
    assert release.identity(tmp_path / "release.json") is None
    (tmp_path / "bad.json").write_text("{not json")
    assert release.identity(tmp_path / "bad.json") is None
    (tmp_path / "list.json").write_text("[1]")
    assert release.identity(tmp_path / "list.json") is None
