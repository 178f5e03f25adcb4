"""Where `--report DIR` writes, checked up front, and writing it whole or not at all.

The page goes to a temporary file in DIR, then is renamed over the report: a
reader (or a failure halfway) never sees half a page, and an older report stays
as it was until the new one is complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

NAME = "pool-health.html"


class ReportError(Exception):
    """The report cannot be written; the message is one line for the operator."""


def check_target(directory: Path) -> Path:
    """Refuse a DIR the report could not be written to, before any work; the report's path."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ReportError(f"--report {directory}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReportError(f"--report {directory}: {existing} is not writable")
    return directory / NAME


def write(target: Path, text: str) -> None:
    """`text` to `target` (its directory made if need be) by a rename: all of it or nothing."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, text)
    except OSError as exc:
        raise ReportError(f"cannot write {target}: {exc.strerror or exc}") from None


def _replace(target: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # a page to share, not a secret (mkstemp makes 0600)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
