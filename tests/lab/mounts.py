"""Finding and removing mounts under a directory (overlays, a killed debootstrap's /proc)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def mounts_under(directory: Path) -> list[str]:
    """Mount points at or below directory, deepest first."""
    prefix = str(directory).rstrip("/")
    found = []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def unmount_under(directory: Path) -> None:
    """Unmount everything below directory; lazily if still busy."""
    for point in mounts_under(directory):
        done = subprocess.run(["umount", point], capture_output=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
