"""A control group of its own for each lab host.

With --keep-unit nspawn runs in its caller's cgroup and puts the container in a
`payload` child of it. Seven containers started from one cgroup would then share one
cgroup tree, and each one's systemd would remove the others' service cgroups
("Failed at step CGROUP"). So each host's supervisor first moves itself into
<hierarchy>/<lab name>/<host> in every hierarchy systemd uses.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.lab.config import LabError


def hierarchies() -> list[Path]:
    """Mount points of the named systemd hierarchy (cgroup v1) and of cgroup v2."""
    found = []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, point, fstype, options = line.split()[:4]
            if fstype == "cgroup2" or (fstype == "cgroup" and "name=systemd" in options):
                found.append(Path(point))
    return found


def lab_cgroups(lab_name: str) -> list[Path]:
    return [root / lab_name for root in hierarchies()]


def host_cgroups(lab_name: str, host: str) -> list[Path]:
    """The host's cgroup in each hierarchy, created if missing."""
    paths = [group / host for group in lab_cgroups(lab_name)]
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
    return paths


def remove(group: Path, timeout: float = 5) -> None:
    """Remove a cgroup and its children, waiting briefly for their last processes to exit."""
    deadline = time.monotonic() + timeout
    while group.is_dir():
        try:
            for directory, _, _ in sorted(os.walk(group), key=lambda w: -len(w[0])):
                os.rmdir(directory)
        except FileNotFoundError:
            continue
        except OSError as error:  # EBUSY: a process is still leaving
            if time.monotonic() > deadline:
                raise LabError(f"cannot remove cgroup {group}: {error.strerror}") from error
            time.sleep(0.1)
