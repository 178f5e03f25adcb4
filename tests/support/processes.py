"""Child processes of tests: `python -m` commands run as an operator runs them, and
servers, each started in a process group of its own, its output appended to a log file,
and stopped with the whole group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.leftovers import remove_scratch
from tests.support.paths import REPO


def module_argv(module: str, *args: str) -> list[str]:
    """`python -m module args` with this test run's interpreter (the venv's)."""
    return [sys.executable, "-m", module, *args]


def run_module(module: str, *args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """`python -m module args` from the repository, its output captured as text unless
    `options` route it (stdout=..., stderr=...); `options` go to subprocess.run (env,
    timeout, cwd...)."""
    if not options.keys() & {"stdout", "stderr"}:
        options.setdefault("capture_output", True)
    return subprocess.run(module_argv(module, *args), **({"cwd": REPO, "text": True} | options))


def start_in_own_group(argv: Sequence[str], log: Path, **options: Any) -> subprocess.Popen:
    """argv in a new session, so a signal to its group reaches every child it forks;
    stdout and stderr appended to log. `options` go to Popen (cwd, env...)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **options
        )


def stop_group(process: subprocess.Popen | None, first: signal.Signals, timeout: float) -> None:
    """`first` to the process's group, SIGKILL when it has not exited after `timeout`
    seconds; nothing when it is not running."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, first)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_server(
    process: subprocess.Popen | None, first: signal.Signals, timeout: float, scratch: Path | None
) -> None:
    """stop_group, then remove the scratch directory the server ran from (None: none made)."""
    stop_group(process, first, timeout)
    if scratch:
        remove_scratch(scratch)


def running(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
