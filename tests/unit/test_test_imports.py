"""Tests share helpers through tests/support/, never by importing a conftest module.

pytest loads each conftest itself; importing one from a test loads it a second time
under another name, and its fixtures then exist twice.
"""

from __future__ import annotations

import ast

from tests.support.paths import REPO

KNOWN: set[str] = set()


def conftest_importers() -> set[str]:
    found = set()
    for path in (REPO / "tests").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(name.split(".")[-1] == "conftest" for name in names):
                found.add(str(path.relative_to(REPO)))
    return found


def test_no_test_imports_a_conftest_module():
    importers = conftest_importers()

    assert importers - KNOWN == set()
    assert importers >= KNOWN, "fixed: remove it from KNOWN"
