"""Finding the lab's processes in /proc, so leftovers are found even without a state dir."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    argv: list[str]
    ns_pid: int  # the pid inside its innermost pid namespace (1 for a container's init)


def find_processes() -> list[Proc]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:  # exited while we looked
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        ns_pids = fields.get("NSpid", entry.name).split()
        found.append(
            Proc(
                pid=int(entry.name),
                ppid=int(fields.get("PPid", "0")),
                argv=[arg.decode(errors="replace") for arg in argv if arg],
                ns_pid=int(ns_pids[-1]),
            )
        )
    return found


def container_inits(upper_prefix: str) -> list[int]:
    """Pids of container inits whose root overlay's upperdir starts with upper_prefix.

    Their mountinfo names the overlay's upperdir, which finds them even when the
    nspawn process that started them is gone (killed with SIGKILL).
    """
    pids = []
    for proc in find_processes():
        if proc.ns_pid != 1 or proc.pid == 1:
            continue
        try:
            mountinfo = Path(f"/proc/{proc.pid}/mountinfo").read_text()
        except OSError:
            continue
        if f"upperdir={upper_prefix}" in mountinfo:
            pids.append(proc.pid)
    return pids


def kill_all(pids: Iterable[int], sig: int = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait until none of pids is alive; return the ones still alive at the deadline."""
    remaining = list(pids)
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        remaining = [pid for pid in remaining if _alive(pid)]
        if remaining:
            time.sleep(0.1)
    return remaining


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
