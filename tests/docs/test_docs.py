"""Everything the README and docs/ show an operator exists: every command answers
--help, every option it uses is one the command takes, every make target, playbook,
linked file and anchor is there, and every variable, setting and metric named is one
the code reads or exports."""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.docs import markdown
from tests.docs.markdown import REPO, Shown

PAGES = markdown.pages()
# Where a documented name must occur: the code, the roles, the playbooks, the tools.
CODE = ("app", "checks", "roles", "playbooks", "scripts", "library", "plugins", "inventory")
CODE_FILES = ("Makefile", "tests/lab/__main__.py", "tests/lab/config.py")
# Options of other people's programs shown in the docs (ansible, pytest, pip, rq, curl...).
FOREIGN_OPTIONS = {
    "--check", "--diff", "--hosts", "--ansible-inventory", "--pyargs", "--url",
    "--no-index", "--find-links", "--target", "--worker-class", "--with-scheduler",
    "--worker-ttl", "--job-monitoring-interval", "--maintenance-interval", "--max-children",
    "--dsn", "--help", "--ask-vault-pass", "--vault-password-file",
}  # fmt: skip
# Metrics of postgres_exporter and redis_exporter the docs name.
EXPORTERS_METRICS = {"redis_up", "redis_memory_used_bytes", "pg_stat_activity_count"}
REPO_DIRS = ("app/", "checks/", "scripts/", "playbooks/", "roles/", "tests/", "bench/", "docs/")
REPO_DIRS += ("inventory/", "library/")
ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
VARIABLE = re.compile(
    r"^(?:goalgpt|postgresql|redis|supervisor|raise_pool|demo_data|prometheus|alertmanager)"
    r"_[a-z0-9_]+$"
)
METRIC = re.compile(
    r"\bgoalgpt_(?:http|cache|singleflight|db|job|queue|redis|degraded|dependency)\w*"
)
COMMAND = re.compile(r"(sudo |/opt/|(\S*/)?python |make )")


@cache
def code_text() -> str:
    parts = [(REPO / name).read_text() for name in CODE_FILES]
    for top in CODE:
        for path in sorted((REPO / top).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".yml", ".yaml", ".j2", ".cfg", ""):
                parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


def in_code(name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", code_text()) is not None


def every(kind) -> list[Shown]:
    return [shown for page in PAGES for shown in kind(page)]


def commands() -> list[tuple[Shown, list[str]]]:
    """Every shell command shown, in a block or inline, as argv without the host prefixes."""
    shown = every(markdown.shell_lines) + [
        s for s in every(markdown.inline_code) if COMMAND.match(s.text)
    ]
    return [(s, markdown.words(markdown.on_host_to_local(s.text))) for s in shown]


@cache
def help_of(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv, "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_docs_are_found():
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    assert {"README.md", "docs/operating.md", "docs/cli.md", "docs/runbooks/README.md"} <= names
    assert len(markdown.shell_lines(REPO / "README.md")) >= 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_leads_to_a_file_and_heading_that_exist(page: Path):
    broken = []
    for link in markdown.links(page):
        target, _, fragment = link.text.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link.where()} (no such file)")
        elif fragment and fragment not in markdown.anchors(path):
            broken.append(f"{link.where()} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_python_module_shown_answers_help_and_takes_the_options_shown():
    problems, seen = [], 0
    for shown, argv in commands():
        found = markdown.python_module(argv)
        if not found:
            continue
        module, sub = found
        done = help_of("-m", module, *sub)
        seen += 1
        if done.returncode != 0:
            problems.append(f"{shown.where()}: --help exit {done.returncode} {done.stderr[-200:]}")
            continue
        problems += [
            f"{shown.where()}: {option} is not an option of {module} {' '.join(sub)}"
            for option in markdown.options(argv)
            if option not in done.stdout
        ]
    assert seen >= 20
    assert not problems, "\n".join(problems)


def test_every_script_shown_exists_and_answers_help():
    problems, seen = [], 0
    for shown, argv in commands():
        if len(argv) < 2 or not argv[0].endswith("python") or not argv[1].endswith(".py"):
            continue
        seen += 1
        if not (REPO / argv[1]).is_file():
            problems.append(f"{shown.where()}: no file {argv[1]}")
        elif help_of(argv[1]).returncode != 0:
            problems.append(f"{shown.where()}: {argv[1]} --help failed")
    assert seen >= 2
    assert not problems, "\n".join(problems)


def test_every_make_target_and_variable_shown_exists():
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    problems = []
    for shown, argv in commands():
        if argv[:1] != ["make"]:
            continue
        for word in argv[1:]:
            name, is_variable, _ = word.strip("[]").partition("=")
            if is_variable and not re.search(rf"^{name} \?=", makefile, re.M):
                problems.append(f"{shown.where()}: the Makefile reads no {name}")
            elif not is_variable and word not in targets:
                problems.append(f"{shown.where()}: no make target {word}")
    assert not problems, "\n".join(problems)


def test_every_playbook_shown_exists_and_reads_the_variables_passed():
    problems, seen = [], 0
    for shown, argv in commands():
        if argv[:1] != ["ansible-playbook"]:
            continue
        seen += 1
        if not (REPO / argv[1]).is_file():
            problems.append(f"{shown.where()}: no playbook {argv[1]}")
        for extra in (argv[i + 1] for i, w in enumerate(argv[:-1]) if w == "-e"):
            for name in re.findall(r"^(\w+)=|\"(\w+)\":", extra):
                name = next(n for n in name if n)
                if not in_code(name):
                    problems.append(f"{shown.where()}: nothing reads -e {name}")
    assert seen >= 5
    assert not problems, "\n".join(problems)


def test_every_environment_variable_named_is_read_by_the_code():
    names = {
        (name, shown.page.relative_to(REPO).as_posix())
        for shown in every(markdown.inline_code) + every(markdown.shell_lines)
        for name in ENV_NAME.findall(shown.text)
    }
    unknown = sorted(f"{page}: {name}" for name, page in names if not in_code(name))
    assert len(names) >= 20
    assert not unknown, "\n".join(unknown)


def test_every_role_and_playbook_variable_named_exists():
    named = {
        (shown.text, shown.page.relative_to(REPO).as_posix())
        for shown in every(markdown.inline_code)
        if VARIABLE.match(shown.text.split(":")[0])
        and not METRIC.match(shown.text)
        and shown.text not in EXPORTERS_METRICS
    }
    unknown = sorted(f"{page}: {text}" for text, page in named if not in_code(text.split(":")[0]))
    assert len(named) >= 5
    assert not unknown, "\n".join(unknown)


def test_every_metric_named_is_exported():
    """A name, or a prefix of names as a grep for them on /metrics shows it."""
    exported = set(METRIC.findall(code_text()))
    names = {name for page in PAGES for name in METRIC.findall(page.read_text())}
    unknown = sorted(
        name
        for name in names
        if re.sub(r"_(total|bucket|count|sum)$", "", name) not in exported
        and not any(known.startswith(name) for known in exported)
    )
    assert len(names) >= 20
    assert not unknown, "\n".join(unknown)


def test_every_long_option_named_in_the_text_exists():
    unknown = sorted(
        {
            f"{shown.page.relative_to(REPO)}: {option}"
            for shown in every(markdown.inline_code)
            for option in markdown.options(markdown.words(shown.text))
            if option not in FOREIGN_OPTIONS and not in_code(option)
        }
    )
    assert not unknown, "\n".join(unknown)


def test_every_repository_path_named_exists():
    missing = sorted(
        {
            f"{shown.page.relative_to(REPO)}: {path}"
            for shown in every(markdown.inline_code)
            for path in shown.text.split()
            if path.startswith(REPO_DIRS)
            and not any(c in path for c in "<>*{")
            and not (REPO / path.rstrip("/,.")).exists()
            and not path.startswith("inventory/production")
        }
    )
    assert not missing, "\n".join(missing)


def test_no_page_tells_an_operator_to_start_rq_processes_the_deploy_runs():
    started = [
        shown.where()
        for shown in every(markdown.shell_lines)
        if re.match(
            r"(\S*/)?(rq (cron|worker)\b|python3? -m app\.jobs\.(cron|wait_for_queue)\b)",
            markdown.on_host_to_local(shown.text),
        )
    ]
    assert not started, "the deploy runs them; a second rq cron doubles every job:\n" + "\n".join(
        started
    )


def defines(module: Path, name: str) -> bool:
    text = module.read_text()
    return re.search(rf"^\s*(def |class )?{name}\b", text, re.M) is not None


def resolves(dotted: str) -> bool:
    """app.infra.job_stats.JobStatsCollector: a module of ours, then names it defines."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:cut])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if module.is_file():
            return len(parts) - cut <= 1 and all(defines(module, n) for n in parts[cut:])
    return False


def test_every_module_and_name_of_ours_named_exists():
    dotted = re.compile(r"^((?:app|checks)(?:\.\w+)+)")
    files = (".env", ".yml", ".json", ".py", ".md")  # checks.env is a file, not a module
    missing = sorted(
        {
            f"{shown.page.relative_to(REPO)}: {match[1]}"
            for shown in every(markdown.inline_code)
            if (match := dotted.match(shown.text))
            and not shown.text.startswith("app.extensions")
            and not match[1].endswith(files)
            and not resolves(match[1])
        }
    )
    assert not missing, "\n".join(missing)


def role_readmes() -> list[Path]:
    return sorted((REPO / "roles").glob("*/README.md"))


def flowing(page: Path) -> str:
    """The page's text with its line breaks and indents as single spaces."""
    return " ".join(page.read_text().split())


def test_every_page_naming_db_max_connections_says_it_is_the_per_process_pool_max():
    """Not PostgreSQL's max_connections: both are "max connections" to someone new."""
    setting = re.compile(r"(?<!JOB_)DB_MAX_CONNECTIONS")
    vague = [
        page.relative_to(REPO).as_posix()
        for page in [*PAGES, *role_readmes()]
        if setting.search(text := flowing(page))
        and not ("per-process pool max" in text and "PostgreSQL's `max_connections`" in text)
    ]
    why = "say `DB_MAX_CONNECTIONS` is the per-process pool max, not PostgreSQL's `max_connections`"
    assert not vague, why + ":\n" + "\n".join(vague)


def test_the_readme_names_every_role_ansible_module_and_plugin_of_ours():
    readme = (REPO / "README.md").read_text()
    roles = [path.parent for path in (REPO / "roles").glob("*/tasks")]
    ours = [*roles, *(REPO / "library").glob("*.py"), *(REPO / "plugins").glob("*/*.py")]
    unnamed = sorted(path.stem for path in ours if f"`{path.stem}`" not in readme)
    assert len(ours) >= 25
    assert not unnamed, "README.md's map of the repository does not name:\n" + "\n".join(unnamed)


def test_make_help_prints_the_inventory_it_would_use():
    shown = subprocess.run(
        ["make", "--no-print-directory", "help", "INVENTORY=inventory/example"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "$(" not in shown
    assert "deploy everything to inventory/example" in shown
