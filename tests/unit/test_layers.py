"""`make lint` holds the layers: lint-imports, on a copy of app/ and checks/ with one crossing.

The contracts live in pyproject.toml (`[tool.importlinter]`); docs/architecture.md#layers
says in words which layer may import which.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def copy_of_the_tree(to: Path) -> Path:
    for package in ("app", "checks"):
        shutil.copytree(
            REPO / package, to / package, ignore=shutil.ignore_patterns("__pycache__", ".*")
        )
    shutil.copy(REPO / "pyproject.toml", to)
    return to


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
    )


def add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_as_it_is_keeps_every_contract(tmp_path):
    done = lint_imports(copy_of_the_tree(tmp_path))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "crossing", "verdict"),
    [
        # Upwards: the shared layer imports a layer above it.
        ("app/infra/names.py", "import app.web", "app.infra is not allowed to import app.web"),
        # Sideways: siblings of one layer never import each other.
        ("app/jobs/queues.py", "import app.web", "app.jobs is not allowed to import app.web"),
        # The web process's own modules: the jobs may not count in the web's metrics.
        ("app/jobs/queues.py", "import app.metrics", "app.jobs.queues -> app.metrics"),
        # The checks take from app only infra, config and cli.
        (
            "checks/smoke.py",
            "import app.migrations",
            "checks is not allowed to import app.migrations",
        ),
        # The cache sits below the web it serves.
        ("app/cache/keys.py", "import app.web", "app.cache is not allowed to import app.web"),
    ],
)
def test_a_new_crossing_fails_and_names_it(tmp_path, module, crossing, verdict):
    tree = copy_of_the_tree(tmp_path)
    add_line(tree / module, crossing)

    done = lint_imports(tree)

    assert done.returncode == 1, done.stdout + done.stderr
    assert verdict in done.stdout


def test_a_new_module_of_app_must_be_given_its_layer(tmp_path):
    tree = copy_of_the_tree(tmp_path)
    (tree / "app" / "newcomer.py").write_text('"""Not yet placed in a layer."""\n')

    done = lint_imports(tree)

    assert done.returncode == 1, done.stdout + done.stderr
    assert "app.newcomer" in done.stdout
