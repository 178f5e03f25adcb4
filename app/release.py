"""Which release this process runs: the release.json that scripts/build_release.py
writes into each release directory, beside the release's venv.

A deployed process runs from releases/<version>/venv, so the file is found from the
interpreter itself (sys.prefix) with nothing to configure; a checkout (tests, a
developer's .venv) has none and reports None.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIELDS = ("version", "commit", "built_at")


def release_file(prefix: str | None = None) -> Path:
    """release.json of the release whose venv is `prefix` (default: this interpreter's)."""
    return Path(prefix or sys.prefix).parent / "release.json"


def identity(path: Path | None = None) -> dict[str, str] | None:
    """version, commit and build time of the running release; None outside a release
    or when the file cannot be read (an unreadable identity must not fail /healthz)."""
    try:
        data = json.loads((path or release_file()).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    return {name: str(data.get(name, "unknown")) for name in FIELDS}
