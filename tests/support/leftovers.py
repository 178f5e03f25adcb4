"""What a killed test run left behind, found and removed by the next run.

Every temporary root a test's servers run from (PostgreSQL and Redis data directories,
gunicorn's metrics directory, Prometheus's storage, an e2e deployment) is made by
`scratch_dir()`, which writes down the pytest process that owns it. A run that ends
normally removes its own, owner file included (`remove_scratch()`); one killed with
SIGKILL cannot. `reap()`, at the start of
every run, takes each directory whose owner is gone: it kills every process running
from it (its command line, working directory or environment names the directory),
drops a PostgreSQL cluster and removes a user living in it, deletes the network
namespaces named after it, then deletes it. A
directory whose owner still runs (a concurrent run) is left alone.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

PREFIX = "goalgpt-"
OWNER_SUFFIX = ".owner"
KILL_WAIT_S = 10.0
PG_CONF_ROOT = Path("/etc/postgresql")  # pg_createcluster's configuration, per version


def scratch_dir(kind: str) -> Path:
    """A new directory /tmp/goalgpt-<kind>-XXXX owned by this process."""
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{kind}-"))
    # Written whole, then renamed: a concurrent run's reap() never reads it half-written.
    written = path.with_name(f".{path.name}{OWNER_SUFFIX}")
    written.write_text(_identity(os.getpid()))
    written.rename(owner_file(path))
    return path


def remove_scratch(path: Path) -> None:
    """Remove a scratch directory its owner is done with, and its owner file with it."""
    shutil.rmtree(path, ignore_errors=True)
    owner_file(path).unlink(missing_ok=True)


def owner_file(path: Path) -> Path:
    """Beside the directory, not in it: what a test finds inside is what it made."""
    return path.with_name(path.name + OWNER_SUFFIX)


def _identity(pid: int) -> str:
    """pid and start time: a pid reused by another process is not the owner."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return f"{pid} {stat.rsplit(')', 1)[1].split()[19]}"


def _owner_alive(path: Path) -> bool:
    recorded = owner_file(path).read_text().strip()
    pid = recorded.split(" ", 1)[0]
    return pid.isdigit() and _identity(int(pid)) == recorded


def leftovers(among: Iterable[Path] | None = None) -> list[Path]:
    """Scratch directories (of `among`, default all) whose owning test run is gone."""
    candidates = Path(tempfile.gettempdir()).glob(f"{PREFIX}*") if among is None else among
    found = []
    for path in sorted(candidates):
        if path.is_dir() and owner_file(path).is_file() and not _owner_alive(path):
            found.append(path)
    return found


def reap(among: Iterable[Path] | None = None) -> list[Path]:
    """Remove every leftover (of `among`, default all: a test passes its own, so that it
    never reaps what a concurrent test staged) and what runs from it; returns the
    directories removed."""
    removed = leftovers(among)
    for path in removed:
        _kill_processes_of(path)
        _drop_clusters_in(path)
        _remove_users_living_in(path)
        _delete_network_namespaces_of(path)
        path.with_suffix(".log").unlink(missing_ok=True)
        remove_scratch(path)
    # An owner file whose directory is gone: removed by a teardown older than
    # remove_scratch(), or killed between the two steps.
    strays = Path(tempfile.gettempdir()).glob(f"{PREFIX}*{OWNER_SUFFIX}")
    if among is not None:
        strays = (owner_file(path) for path in among)
    for stray in strays:
        if not stray.with_name(stray.name.removesuffix(OWNER_SUFFIX)).exists():
            stray.unlink(missing_ok=True)
    return removed


def processes_of(path: Path) -> list[int]:
    """Pids whose command line, working directory or environment name `path`."""
    needle = os.fsencode(path)
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            seen = [
                (proc / "cmdline").read_bytes(),
                os.fsencode(os.readlink(proc / "cwd")),
                (proc / "environ").read_bytes(),
            ]
        except OSError:
            continue
        if any(needle in part for part in seen):
            found.append(int(proc.name))
    return found


def _kill_processes_of(path: Path) -> None:
    ours = os.getpgid(0)
    for pid in processes_of(path):
        try:
            if pid != ours and os.getpgid(pid) == pid:
                # A group leader (servers start in their own session): its whole
                # group, so PostgreSQL's backends and gunicorn's workers go with it.
                os.killpg(pid, signal.SIGKILL)
            elif pid != os.getpid():
                os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + KILL_WAIT_S
    while processes_of(path) and time.monotonic() < deadline:
        time.sleep(0.1)


def drop_cluster(version: str, name: str) -> None:
    """Stop and remove a pg_createcluster cluster, its /etc/postgresql directory too:
    pg_dropcluster keeps that directory when it holds a file of someone else's (the
    postgresql role's conf.d/goalgpt.conf)."""
    subprocess.run(
        ["pg_dropcluster", "--stop", version, name], capture_output=True, check=False, timeout=120
    )
    shutil.rmtree(PG_CONF_ROOT / version / name, ignore_errors=True)


def _drop_clusters_in(path: Path) -> None:
    """An e2e deployment's PostgreSQL cluster (pg_createcluster) whose data is in `path`."""
    if shutil.which("pg_lsclusters") is None:
        return
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    )
    for line in listing.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 6 and Path(fields[5]).is_relative_to(path):
            drop_cluster(fields[0], fields[1])


def _remove_users_living_in(path: Path) -> None:
    """An e2e deployment's service user, whose home is in `path`."""
    for user in pwd.getpwall():
        if Path(user.pw_dir).is_relative_to(path):
            subprocess.run(["userdel", user.pw_name], capture_output=True, check=False)
            subprocess.run(["groupdel", user.pw_name], capture_output=True, check=False)


def _delete_network_namespaces_of(path: Path) -> None:
    """The network namespaces a test named after its scratch directory (`<name>-...`)."""
    if shutil.which("ip") is None:
        return
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    for line in listing.stdout.splitlines():
        name = line.split(" ", 1)[0]
        if name.startswith(f"{path.name}-"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
