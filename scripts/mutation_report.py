"""Score the last `mutmut run` per module and hold it against the tree and the survivors file.

`python scripts/mutation_report.py --stamp` records which tree a run is made on (`make
mutation` calls it before `mutmut run`, on an emptied mutants/). Then
`python scripts/mutation_report.py` prints a Markdown table (killed / all mutants per
module) and exits 1 when the run does not match what is written down:

- the tree changed since the run was stamped (a source, a test it runs or what that test
  imports or reads):
  the results describe other code, and mutmut keeps the verdicts of functions it thinks
  unchanged even when the tests that judge them changed;
- a mutant that was not killed is missing from tests/mutation/SURVIVORS.md, or the file
  lists one that was killed (mutants listed under a heading that starts with "Either
  way" differ from the code by a millisecond or one clock instant: either is fine);
- the score table in docs/development.md is not this run's.

Timeouts count as killed (the mutant made the tests hang), "no tests" as not killed.
Exit 0 all matches, 1 something does not, 2 no results or no stamp.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SURVIVORS = REPO / "tests" / "mutation" / "SURVIVORS.md"
SCORES_DOC = REPO / "docs" / "development.md"
STAMP = REPO / "mutants" / "goalgpt-tree.json"
KILLED = {"killed", "timeout", "caught by type check"}
_MODULE = re.compile(r"^(.*?)\.x[_ǁ]")
_LISTED = re.compile(r"^- `([^`]+)`")
_EITHER_WAY = "## Either way"
_TABLE_ROW = re.compile(r"^\| (`[\w.]+`|all) \|")


def results() -> dict[str, str]:
    """mutant name -> status, from `mutmut results --all true`."""
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            found[name] = status
    return found


def table(statuses: dict[str, str]) -> str:
    total, killed = Counter(), Counter()
    for name, status in statuses.items():
        module = _MODULE.match(name)[1]
        total[module] += 1
        killed[module] += status in KILLED
    rows = ["| module | killed | mutants | score |", "| --- | ---: | ---: | ---: |"]
    for module in sorted(total):
        rows.append(
            f"| `{module}` | {killed[module]} | {total[module]} | "
            f"{100 * killed[module] / total[module]:.1f} % |"
        )
    all_killed, all_total = sum(killed.values()), sum(total.values())
    rows.append(f"| all | {all_killed} | {all_total} | {100 * all_killed / all_total:.1f} % |")
    return "\n".join(rows)


def listed(text: str) -> tuple[set[str], set[str]]:
    """(every mutant listed, those listed as possibly killed: "Either way")."""
    names: set[str] = set()
    either_way: set[str] = set()
    optional = False
    for line in text.splitlines():
        if line.startswith("## "):
            optional = line.startswith(_EITHER_WAY)
        elif m := _LISTED.match(line):
            names.add(m[1])
            if optional:
                either_way.add(m[1])
    return names, either_way


def tree() -> dict[str, str]:
    """path -> sha256 of every file a run's verdicts depend on: the sources mutmut copies,
    the files it copies besides (`also_copy`), pyproject.toml, and the tests: the
    directories of the selected ones (their helpers and conftests), tests/support and
    tests/conftest.py. Other tests (the lab's, the e2e deployment's) are not run by it."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
    selected = config["pytest_add_cli_args_test_selection"]
    test_dirs = sorted({str(Path(test).parent) for test in selected})
    roots = [*config["source_paths"], *config.get("also_copy", []), "pyproject.toml"]
    roots += [*test_dirs, "tests/support", "tests/conftest.py", "tests/__init__.py"]
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *roots],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    results_doc = str(SCORES_DOC.relative_to(REPO))  # written from the run, after it
    return {
        path: hashlib.sha256((REPO / path).read_bytes()).hexdigest()
        for path in sorted(set(listing) - {results_doc})
        if (REPO / path).is_file()
    }


def changed(stamped: dict[str, str], now: dict[str, str]) -> list[str]:
    return sorted(p for p in stamped.keys() | now.keys() if stamped.get(p) != now.get(p))


def documented_table(doc: str) -> str:
    """The score table's rows as docs/development.md shows them."""
    return "\n".join(line for line in doc.splitlines() if _TABLE_ROW.match(line))


def problems(
    statuses: dict[str, str], survivors: str, stamped: dict[str, str], now: dict[str, str], doc: str
) -> list[str]:
    """Every way the run does not match the tree, the survivors file and the docs."""
    found = []
    moved = changed(stamped, now)
    if moved:
        shown = ", ".join(moved[:5]) + (f" and {len(moved) - 5} more" if len(moved) > 5 else "")
        found.append(f"the tree changed since the run was made ({shown}): run `make mutation`")
    alive = {name for name, status in statuses.items() if status not in KILLED}
    known, either_way = listed(survivors)
    survivors_file = SURVIVORS.relative_to(REPO)
    for name in sorted(alive - known):
        found.append(
            f"surviving mutant not in {survivors_file}: {name} "
            f"({statuses[name]}; see `mutmut show {name}`)"
        )
    for name in sorted(known - alive - either_way):
        found.append(f"listed in {survivors_file} but not surviving this run: {name}")
    rows = "\n".join(line for line in table(statuses).splitlines() if _TABLE_ROW.match(line))
    if documented_table(doc) != rows:
        found.append(f"the score table in {SCORES_DOC.relative_to(REPO)} is not this run's")
    return found


def stamp() -> int:
    STAMP.parent.mkdir(exist_ok=True)
    STAMP.write_text(json.dumps(tree(), indent=0, sort_keys=True))
    print(f"recorded the tree of this run in {STAMP.relative_to(REPO)}")
    return 0


def report() -> int:
    statuses = results()
    if not statuses:
        print("no mutmut results: run `make mutation` first", file=sys.stderr)
        return 2
    if not STAMP.exists():
        print(f"no {STAMP.relative_to(REPO)}: run `make mutation`", file=sys.stderr)
        return 2
    print(table(statuses))
    found = problems(
        statuses,
        SURVIVORS.read_text() if SURVIVORS.exists() else "",
        json.loads(STAMP.read_text()),
        tree(),
        SCORES_DOC.read_text(),
    )
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python scripts/mutation_report.py",
        description="Score the last mutmut run and fail when it does not match the tree, "
        "tests/mutation/SURVIVORS.md or the table in docs/development.md. Exit 0 all "
        "matches, 1 something does not, 2 no results or no record of the run's tree.",
    )
    parser.add_argument(
        "--stamp", action="store_true", help="record the tree a run is about to be made on"
    )
    args = parser.parse_args(argv)
    return stamp() if args.stamp else report()


if __name__ == "__main__":
    sys.exit(main())
