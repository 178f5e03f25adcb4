"""Score the last `mutmut run` per module and hold it against the survivors file.

`python scripts/mutation_report.py` prints a Markdown table (killed / all
mutants per module) and exits 1 when a mutant that was not killed is missing
from tests/mutation/SURVIVORS.md, or when the file lists one that no longer
survives: the file must stay current. Mutants listed under a heading that starts
with "Either way" differ from the code by a millisecond or one clock instant: a
test may catch them in one run and not the next, so they may be killed or not.
Timeouts count as killed (the mutant made the tests hang), "no tests" as not killed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SURVIVORS = REPO / "tests" / "mutation" / "SURVIVORS.md"
KILLED = {"killed", "timeout", "caught by type check"}
_MODULE = re.compile(r"^(.*?)\.x[_ǁ]")
_LISTED = re.compile(r"^- `([^`]+)`")
_EITHER_WAY = "## Either way"


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


def listed() -> tuple[set[str], set[str]]:
    """(every mutant listed, those listed as possibly killed: "Either way")."""
    names: set[str] = set()
    either_way: set[str] = set()
    if not SURVIVORS.exists():
        return names, either_way
    optional = False
    for line in SURVIVORS.read_text().splitlines():
        if line.startswith("## "):
            optional = line.startswith(_EITHER_WAY)
        elif m := _LISTED.match(line):
            names.add(m[1])
            if optional:
                either_way.add(m[1])
    return names, either_way


def main() -> int:
    statuses = results()
    if not statuses:
        print("no mutmut results: run `mutmut run` first", file=sys.stderr)
        return 2
    print(table(statuses))
    alive = {name for name, status in statuses.items() if status not in KILLED}
    known, either_way = listed()
    unexplained, stale = sorted(alive - known), sorted(known - alive - either_way)
    for name in unexplained:
        print(
            f"surviving mutant not in {SURVIVORS.relative_to(REPO)}: {name} "
            f"({statuses[name]}; see `mutmut show {name}`)",
            file=sys.stderr,
        )
    for name in stale:
        print(
            f"listed in {SURVIVORS.relative_to(REPO)} but no longer surviving: {name}",
            file=sys.stderr,
        )
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    sys.exit(main())
