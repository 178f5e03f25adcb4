"""`make deploy` of this tree against a base commit's, side by side in one run.

Both trees deploy the same targets in turn (base, this, base, this, ...), so the
machine's load falls on both alike:

- `lab-noop`: a second deploy onto the lab (GOALGPT_LAB_ID; booted if it is not up),
  after one settling deploy of each tree. Every timed run must report changed=0.
- `lab-first`: the first deploy of a freshly booted lab (the lab is taken down and
  booted again before each run; about 4 minutes a run).
- `one-host`: one machine as inventory/local lays it out (every group on one host,
  supervisord), in an isolated root with free ports (tests/support/deployment.py): its
  first deploy, then no-op deploys.

Prints per scenario the median seconds of each tree and their ratio, then the ten
slowest tasks of each tree's last run (plugins/callback/goalgpt_timings.py).
Run as root, e.g.:

    GOALGPT_LAB_ID=4 .venv/bin/python bench/deploy_speed.py --base main --rounds 2

Exit codes: 0 measured, 1 a timed deploy failed or a no-op changed something, 2 bad
arguments or a commit could not be checked out, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab import Lab  # noqa: E402
from tests.support.deployment import Deployment  # noqa: E402

SCENARIOS = ("lab-noop", "lab-first", "one-host")
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class BenchError(Exception):
    """The benchmark could not measure; the message says why."""


class CheckoutError(BenchError):
    """A commit to compare could not be checked out."""


@dataclass
class Run:
    seconds: float
    # The controller's CPU (ansible-playbook and its forks): far steadier than the wall
    # time on a loaded machine; the hosts' own CPU is not in it.
    cpu_s: float
    changed: dict[str, int]
    slowest: list[tuple[float, str]]


@dataclass
class Figures:
    runs: dict[str, list[Run]] = field(default_factory=lambda: {"base": [], "this": []})

    def median(self, side: str, what: str = "seconds") -> float:
        return statistics.median(getattr(run, what) for run in self.runs[side])


def deploy(tree: Path, inventory: Path, label: str) -> Run:
    """ansible-playbook playbooks/deploy.yml from `tree` (its roles and ansible.cfg)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as timings:
        env = {
            **os.environ,
            "ANSIBLE_CALLBACKS_ENABLED": "goalgpt_timings",
            # The base commit may predate the callback: it comes from this tree.
            "ANSIBLE_CALLBACK_PLUGINS": str(REPO / "plugins" / "callback"),
            "GOALGPT_TIMINGS_JSON": timings.name,
            "ANSIBLE_NOCOLOR": "1",
        }
        started, cpu_before = time.monotonic(), _children_cpu()
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "ansible-playbook"),
                "playbooks/deploy.yml",
                "-i",
                str(inventory),
            ],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        seconds, cpu_s = time.monotonic() - started, _children_cpu() - cpu_before
        recap = {m[0]: int(m[1]) for m in RECAP.findall(done.stdout) if m[2] == "0" and m[3] == "0"}
        if done.returncode != 0 or not recap:
            tail = "\n".join(done.stdout.splitlines()[-15:])
            raise BenchError(f"{label}: deploy failed (exit {done.returncode}):\n{tail}")
        tasks = json.loads(Path(timings.name).read_text())["tasks"]
    slowest = sorted(((t["seconds"], f"{t['play']} | {t['task']}") for t in tasks), reverse=True)
    print(
        f"  {label}: {seconds:6.1f}s, cpu {cpu_s:5.1f}s, changed={sum(recap.values())}", flush=True
    )
    return Run(seconds, cpu_s, recap, slowest[:10])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def checkout(ref: str | None) -> Iterator[Path]:
    """`ref` checked out beside this tree (a detached git worktree); None: this tree."""
    if ref is None:
        yield REPO
        return
    where = Path(tempfile.mkdtemp(prefix="goalgpt-bench-"))
    added = subprocess.run(
        ["git", "worktree", "add", "--detach", str(where), ref],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    if added.returncode != 0:
        raise CheckoutError(f"cannot check out {ref}: {added.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(where)], cwd=REPO, capture_output=True
        )


def alternate(
    trees: dict[str, Path], inventory: Path, rounds: int, figures: Figures, noop: bool
) -> None:
    for number in range(1, rounds + 1):
        for side, tree in trees.items():
            run = deploy(tree, inventory, f"{side} #{number}")
            if noop and any(run.changed.values()):
                raise BenchError(f"{side} #{number} was not a no-op: changed {run.changed}")
            figures.runs[side].append(run)


def lab_noop(trees: dict[str, Path], rounds: int) -> Figures:
    lab = Lab()
    lab.up()
    for side, tree in trees.items():
        deploy(tree, lab.inventory_path, f"{side} settling")
    figures = Figures()
    alternate(trees, lab.inventory_path, rounds, figures, noop=True)
    return figures


def lab_first(trees: dict[str, Path], rounds: int) -> Figures:
    lab = Lab()
    figures = Figures()
    for number in range(1, rounds + 1):
        for side, tree in trees.items():
            lab.down()
            lab.up()
            figures.runs[side].append(deploy(tree, lab.inventory_path, f"{side} fresh #{number}"))
    return figures


def one_host(trees: dict[str, Path], rounds: int) -> dict[str, Figures]:
    first, noop = Figures(), Figures()
    for side, tree in trees.items():
        made = Deployment()
        try:
            first.runs[side].append(deploy(tree, made.inventory, f"{side} first"))
        finally:
            made.teardown()
    made = Deployment()
    try:
        for side, tree in trees.items():
            deploy(tree, made.inventory, f"{side} settling")
        alternate(trees, made.inventory, rounds, noop, noop=True)
    finally:
        made.teardown()
    return {"one-host first": first, "one-host noop": noop}


def report(results: dict[str, Figures], base: str) -> None:
    print(f"\n{'median of':<26} {'base ' + base:>18} {'this tree':>12} {'this/base':>10}")
    for name, figures in results.items():
        for what, label in (("seconds", "wall"), ("cpu_s", "controller cpu")):
            old, new = figures.median("base", what), figures.median("this", what)
            print(f"{name + ', ' + label:<26} {old:17.1f}s {new:11.1f}s {new / old:10.2f}")
    for name, figures in results.items():
        for side in ("base", "this"):
            print(f"\n{name}, {side}: the 10 slowest tasks of its last run")
            for seconds, task in figures.runs[side][-1].slowest:
                print(f"  {seconds:6.1f}s  {task}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="HEAD~1", help="the commit to compare with (HEAD~1)")
    parser.add_argument("--this", help="measure this commit instead of the working tree as it is")
    parser.add_argument(
        "--rounds", type=int, default=2, help="timed runs per tree and scenario (2)"
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        help="what to measure; repeat for several (default: lab-noop and one-host)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.scenario = args.scenario or ["lab-noop", "one-host"]
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a terminated run still removes its checkouts


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    if os.geteuid() != 0:
        print(
            "deploy_speed: run as root (the lab and the one-host deployment need it)",
            file=sys.stderr,
        )
        return 2
    results: dict[str, Figures] = {}
    try:
        with checkout(args.base) as base, checkout(args.this) as this:
            trees = {"base": base, "this": this}
            for scenario in args.scenario:
                print(f"{scenario}:", flush=True)
                if scenario == "lab-noop":
                    results[scenario] = lab_noop(trees, args.rounds)
                elif scenario == "lab-first":
                    results[scenario] = lab_first(trees, args.rounds)
                else:
                    results.update(one_host(trees, args.rounds))
    except CheckoutError as error:
        print(f"deploy_speed: {error}", file=sys.stderr)
        return 2
    except BenchError as error:
        print(f"deploy_speed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "deploy_speed: interrupted; the checkouts and the one-host root are removed",
            file=sys.stderr,
        )
        return 130
    report(results, args.base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
