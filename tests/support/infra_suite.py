"""Which hosts each testinfra test of tests/deployed runs on, read from the suite's source.

A test runs on a host that is in one of its groups and skips elsewhere with "not in group
A or B": through a `needs(layout, "A", "B")` call in its body, a fixture of its module it
asks for, or its module's autouse fixture calling pytest.skip("not in group ..."). A test
with none of these runs on every host. The fleet test counts the lab's testinfra run
against this, so a test that skips where it should run cannot pass unseen.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from tests.support.paths import REPO

SUITE = REPO / "tests" / "deployed"
ROLE_SKIP = re.compile(r"^not in group (\w+(?: or \w+)*)$")
HOST_ID = re.compile(r"\[.*\bansible://([a-z]+-\d+)")  # testinfra's id of the host, e.g. app-1

# Each condition is a set of groups the host must share one of; every condition must hold.
Conditions = tuple[frozenset[str], ...]


def skipped_for(reason: str) -> frozenset[str] | None:
    """The groups a role skip names ("not in group app or workers"); None for any other."""
    match = ROLE_SKIP.match(reason)
    return frozenset(match[1].split(" or ")) if match else None


def runs_on(conditions: Conditions, host_groups: Iterable[str]) -> bool:
    return all(condition & set(host_groups) for condition in conditions)


# host -> test -> [(outcome, skip reason)], one per parameter of the test
Outcomes = dict[str, dict[str, list[tuple[str, str]]]]


@dataclass
class Judged:
    ran: dict[str, int] = field(default_factory=dict)  # host -> tests that passed there
    expected: dict[str, int] = field(default_factory=dict)  # host -> tests of its groups
    problems: list[str] = field(default_factory=list)


def outcomes(junit_xml: Path) -> Outcomes:
    """What each test did on each host, from testinfra's JUnit report."""
    found: Outcomes = {}
    for case in ElementTree.parse(junit_xml).iter("testcase"):
        name = case.get("name", "")
        host = HOST_ID.search(name)
        test = name.split("[")[0]
        outcome, reason = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = child.tag
            elif child.tag == "skipped":
                outcome, reason = "skipped", child.get("message", "")
        tests = found.setdefault(host[1] if host else "(no host)", {})
        tests.setdefault(f"{case.get('classname')}.{test}", []).append((outcome, reason))
    return found


def judge(run: Outcomes, host_groups: Mapping[str, Iterable[str]]) -> Judged:
    """Every test of the suite ran on each host of its groups and skipped elsewhere only
    for the host's role: pytest exits 0 when every test skips, this does not pass it."""
    suite = required_groups()
    judged = Judged()
    if sorted(run) != sorted(host_groups):
        judged.problems.append(f"the run covers {sorted(run)}, not {sorted(host_groups)}")
    for host, tests in run.items():
        groups = set(host_groups.get(host, ()))
        if sorted(tests) != sorted(suite):
            judged.problems.append(f"{host} did not run the whole suite of {SUITE.name}")
        for test, cases in tests.items():
            for outcome, reason in cases:
                role = skipped_for(reason)
                if outcome != "skipped" or (role and role.isdisjoint(groups)):
                    continue
                judged.problems.append(f"{test} skipped on {host} ({sorted(groups)}): {reason}")
        judged.ran[host] = sum(o == "passed" for cases in tests.values() for o, _ in cases)
        judged.expected[host] = sum(
            len(cases) for test, cases in tests.items() if runs_on(suite.get(test, ()), groups)
        )
    if judged.ran != judged.expected:
        judged.problems.append(f"tests run per host {judged.ran}, expected {judged.expected}")
    return judged


def required_groups(suite: Path = SUITE, package: str = "tests.deployed") -> dict[str, Conditions]:
    """'<package>.<module>.<test>' -> the conditions a host must meet to run it."""
    found: dict[str, Conditions] = {}
    for path in sorted(suite.glob("test_*.py")):
        module = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        functions = [n for n in module.body if isinstance(n, ast.FunctionDef)]
        fixtures = {f.name: f for f in functions if _is_fixture(f)}
        autouse = [c for f in fixtures.values() if _is_autouse(f) for c in _skips(f)]
        for test in (f for f in functions if f.name.startswith("test_")):
            asked = [fixtures[a.arg] for a in test.args.args if a.arg in fixtures]
            conditions = autouse + [c for fixture in asked for c in _skips(fixture)]
            conditions += _needs(test) + _skips(test)
            found[f"{package}.{path.stem}.{test.name}"] = tuple(conditions)
    return found


def _decorators(function: ast.FunctionDef) -> list[str]:
    return [ast.unparse(d) for d in function.decorator_list]


def _is_fixture(function: ast.FunctionDef) -> bool:
    return any(d.startswith("pytest.fixture") for d in _decorators(function))


def _is_autouse(function: ast.FunctionDef) -> bool:
    return any("autouse=True" in d for d in _decorators(function))


def _calls(function: ast.FunctionDef, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == name
    ]


def _needs(function: ast.FunctionDef) -> list[frozenset[str]]:
    """The groups of each needs(layout, "A", ...) call."""
    return [
        frozenset(_literal(function, a) for a in call.args[1:])
        for call in _calls(function, "needs")
    ]


def _skips(function: ast.FunctionDef) -> list[frozenset[str]]:
    """The groups of each pytest.skip("not in group ...") call; any other skip is refused."""
    found = []
    for call in _calls(function, "pytest.skip"):
        groups = skipped_for(_literal(function, call.args[0]) if call.args else "")
        if groups is None:
            raise ValueError(
                f"{function.name} skips for a reason that is not a role "
                f"({ast.unparse(call)}): say which hosts it runs on as 'not in group ...'"
            )
        found.append(groups)
    return found


def _literal(function: ast.FunctionDef, node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    raise ValueError(f"{function.name}: {ast.unparse(node)} is not a literal group name")
