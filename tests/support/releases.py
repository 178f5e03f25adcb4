"""Another release of this checkout, for tests that roll one out and back."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.deployment import REPO

# What scripts/build_release.py needs to build a release from a checkout.
CHECKOUT = ("app", "checks", "scripts", "pyproject.toml", "constraints.txt")


def other_checkout(where: Path, note: str) -> Path:
    """A copy of this checkout whose app differs by one comment (`note`): another release."""
    for name in CHECKOUT:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, where / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, where / name)
    with (where / "app" / "__init__.py").open("a") as init:
        init.write(f"# another release ({note})\n")
    return where
