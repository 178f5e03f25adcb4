"""The Debian 12 root filesystem every lab host boots from: built once, then cached.

The cache key is a hash of the suite, mirror, package list and image-setup.sh, so
changing any of them builds a new image. A build runs under a lock (two labs never
build at once) in a scratch directory renamed into place only when complete: a
killed build leaves no half image, and the next build removes its remains.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import time
from pathlib import Path

from tests.lab.mounts import unmount_under
from tests.lab.shell import progress, sh

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2", "sudo")
SETUP_SCRIPT = Path(__file__).with_name("image-setup.sh")


def image_key() -> str:
    digest = hashlib.sha256()
    for part in (SUITE, MIRROR, ",".join(PACKAGES)):
        digest.update(part.encode() + b"\0")
    digest.update(SETUP_SCRIPT.read_bytes())
    return digest.hexdigest()[:16]


def ensure_image(cache_dir: Path) -> Path:
    """The cached image's root directory, built first if missing."""
    final = cache_dir / f"image-{image_key()}"
    if final.is_dir():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".build.lock").open("w") as lock:
        progress("waiting for the image build lock")
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_dir():  # another lab built it while we waited
            return final
        _remove_half_builds(cache_dir)
        _build(final)
    return final


def _remove_half_builds(cache_dir: Path) -> None:
    for scratch in cache_dir.glob(".building-*"):
        progress(f"removing an unfinished image build {scratch.name}")
        unmount_under(scratch)  # debootstrap mounts /proc and /sys inside its target
        sh(["rm", "-rf", "--one-file-system", str(scratch)])


def _build(final: Path) -> None:
    scratch = final.with_name(f".building-{final.name}-{os.getpid()}")
    started = time.monotonic()
    progress(f"building the lab image with debootstrap ({SUITE}, minbase; about a minute)")
    sh(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(PACKAGES)}",
            SUITE,
            str(scratch),
            MIRROR,
        ],
        timeout=1200,
    )
    shutil.copy(SETUP_SCRIPT, scratch / "image-setup.sh")
    sh(["chroot", str(scratch), "/bin/sh", "/image-setup.sh"])
    (scratch / "image-setup.sh").unlink()
    unmount_under(scratch)
    os.rename(scratch, final)
    progress(f"image {final.name} built in {time.monotonic() - started:.0f}s")
