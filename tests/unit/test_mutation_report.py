"""scripts/mutation_report.py fails when the last mutmut run does not match what is written
down: the tree it ran on, tests/mutation/SURVIVORS.md, the score table of the docs."""

from __future__ import annotations

import importlib.util

from tests.support.paths import REPO

_spec = importlib.util.spec_from_file_location(
    "mutation_report", REPO / "scripts" / "mutation_report.py"
)
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)

KILLED = "checks.capacity.decide.x_decide__mutmut_1"
ALIVE = "checks.capacity.decide.x_decide__mutmut_2"
FLAKY = "app.infra.lock.x__ms__mutmut_5"
STATUSES = {KILLED: "killed", ALIVE: "survived", FLAKY: "killed"}
TREE = {"checks/capacity/decide.py": "a1", "tests/unit/test_x.py": "b2"}
SURVIVORS = f"""# Surviving mutants

## Equivalent: why.

- `{ALIVE}`: what it does

## Either way (killed in one run, not in the next): a millisecond.

- `{FLAKY}`: what it does
"""
DOC = """Last run:

| module | killed | mutants | score |
| --- | ---: | ---: | ---: |
| `app.infra.lock` | 1 | 1 | 100.0 % |
| `checks.capacity.decide` | 1 | 2 | 50.0 % |
| all | 2 | 3 | 66.7 % |
"""


def test_a_run_that_matches_everything_has_no_problem():
    assert report.problems(STATUSES, SURVIVORS, TREE, TREE, DOC) == []


def test_a_tree_changed_since_the_run_is_named():
    now = TREE | {"tests/unit/test_x.py": "c3", "tests/unit/test_new.py": "d4"}

    found = report.problems(STATUSES, SURVIVORS, TREE, now, DOC)

    assert found == [
        "the tree changed since the run was made (tests/unit/test_new.py, "
        "tests/unit/test_x.py): run `make mutation`"
    ]


def test_a_survivor_not_listed_and_a_listed_one_killed_are_each_named():
    statuses = STATUSES | {ALIVE: "killed", KILLED: "survived"}  # the same score

    found = report.problems(statuses, SURVIVORS, TREE, TREE, DOC)

    assert found == [
        f"surviving mutant not in tests/mutation/SURVIVORS.md: {KILLED} "
        f"(survived; see `mutmut show {KILLED}`)",
        f"listed in tests/mutation/SURVIVORS.md but not surviving this run: {ALIVE}",
    ]


def test_an_either_way_mutant_may_be_killed_or_survive():
    statuses = STATUSES | {FLAKY: "survived"}
    doc = DOC.replace(
        "| `app.infra.lock` | 1 | 1 | 100.0 % |", "| `app.infra.lock` | 0 | 1 | 0.0 % |"
    ).replace("| all | 2 | 3 | 66.7 % |", "| all | 1 | 3 | 33.3 % |")

    assert report.problems(statuses, SURVIVORS, TREE, TREE, doc) == []


def test_a_score_table_in_the_docs_that_is_not_this_runs_is_named():
    stale = DOC.replace("| all | 2 | 3 | 66.7 % |", "| all | 2 | 3 | 66.6 % |")

    found = report.problems(STATUSES, SURVIVORS, TREE, TREE, stale)

    assert found == ["the score table in docs/development.md is not this run's"]
