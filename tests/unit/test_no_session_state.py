"""The web's and the jobs' SQL leaves nothing in a pooled session.

Behind PgBouncer in transaction mode a server connection serves another client as
soon as a transaction ends, and its reset query never runs: a plain SET, a
set_config(..., false), a session advisory lock, LISTEN, PREPARE, a temporary table
or a WITH HOLD cursor would reach the next client. Every SQL text in app/ is read
here, bar the migrations and the demo-data loader, which run on direct connections
(advisory locks and session settings are what they need them for); the pooled
behaviour itself is proven through a real PgBouncer in
tests/integration/test_pooled_session_state.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests.support.paths import REPO

DIRECT_ONLY = ("app/migrations/", "app/seed_data.py")
# Statement-level patterns of session state; SET LOCAL and SET TRANSACTION end with it.
SESSION_STATEMENTS = {
    "plain SET": re.compile(r"^\s*SET\s+(?!LOCAL\b|TRANSACTION\b)", re.I | re.M),
    "RESET": re.compile(r"^\s*RESET\s", re.I | re.M),
    "session advisory lock": re.compile(r"\bpg_(try_)?advisory_lock(_shared)?\s*\(", re.I),
    "LISTEN": re.compile(r"^\s*LISTEN\s", re.I | re.M),
    "PREPARE": re.compile(r"^\s*PREPARE\s", re.I | re.M),
    "temporary table": re.compile(r"\bCREATE\s+(TEMP|TEMPORARY)\s", re.I),
    "WITH HOLD cursor": re.compile(r"\bWITH\s+HOLD\b", re.I),
}
SET_CONFIG = re.compile(r"\bset_config\s*\(", re.I)


def _arguments(text: str, start: int) -> list[str]:
    """The top-level arguments of the call whose "(" is at text[start - 1]."""
    depth, current, found = 0, "", []
    for char in text[start:]:
        if char == ")" and depth == 0:
            return [*found, current.strip()]
        if char == "," and depth == 0:
            found, current = [*found, current.strip()], ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    return [*found, current.strip()]


def session_state(sql: str) -> list[str]:
    """What in one SQL text would outlive its transaction (empty: nothing)."""
    found = [name for name, pattern in SESSION_STATEMENTS.items() if pattern.search(sql)]
    for call in SET_CONFIG.finditer(sql):
        arguments = _arguments(sql, call.end())
        if len(arguments) != 3 or arguments[2].lower() != "true":
            found.append("set_config(..., is_local => false)")
    return found


def findings_in(source: str) -> list[tuple[int, str]]:
    """(line, what) for every string constant of a Python module that holds session state
    (docstrings are prose, not SQL: skipped)."""
    tree = ast.parse(source)
    prose = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
    return [
        (node.lineno, what)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
        for what in session_state(node.value)
    ]


def pooled_modules() -> list[Path]:
    return [
        path
        for path in sorted((REPO / "app").rglob("*.py"))
        if not str(path.relative_to(REPO)).startswith(DIRECT_ONLY)
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT set_config('lock_timeout', %s, false)",
        "select SET_CONFIG('statement_timeout', '5s', FALSE)",
        "SELECT set_config('lock_timeout', %s, %s)",  # the caller decides: not provably local
        "SET lock_timeout = 0",
        "  set search_path TO app",
        "RESET lock_timeout",
        "SELECT pg_advisory_lock(42)",
        "SELECT pg_try_advisory_lock_shared(42)",
        "LISTEN goalgpt",
        "PREPARE q AS SELECT 1",
        "CREATE TEMP TABLE t (a int)",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
    ],
)
def test_session_state_is_found(sql):
    assert session_state(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT set_config('lock_timeout', %s, true)",
        "SELECT set_config('statement_timeout', left('5s', 2), TRUE)",
        "SET LOCAL lock_timeout = '1s'",
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "UPDATE ts_matches SET minute = 1 WHERE id = %s",
        "SELECT pg_advisory_xact_lock(42)",
        "SELECT 1 FROM ts_matches WHERE id = %s FOR UPDATE",
    ],
)
def test_transaction_local_sql_is_not_found(sql):
    assert session_state(sql) == []


def test_the_old_session_wide_lock_timeout_would_be_found():
    # app/jobs/context.py before PgBouncer: every job connection kept this for good.
    old = "conn.execute(\"SELECT set_config('lock_timeout', %s, false)\", (lock_timeout,))"
    assert findings_in(old) == [(1, "set_config(..., is_local => false)")]


def test_no_pooled_module_leaves_session_state():
    modules = pooled_modules()
    assert any(path.name == "context.py" for path in modules)  # the scan reaches the jobs
    found = [
        f"{path.relative_to(REPO)}:{line}: {what}"
        for path in modules
        for line, what in findings_in(path.read_text(encoding="utf-8"))
    ]
    assert found == []
