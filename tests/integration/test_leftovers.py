"""A test run killed with SIGKILL leaves its servers running; the next run removes them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.support.deployment import PG_VERSION
from tests.support.leftovers import (
    PG_CONF_ROOT,
    leftovers,
    owner_file,
    processes_of,
    reap,
    scratch_dir,
)
from tests.support.paths import REPO
from tests.support.processes import running
from tests.support.servers import PostgresServer, RedisServer, free_port

# A run that starts PostgreSQL, Redis and a process living in a scratch directory,
# prints where, and is killed before any teardown.
KILLED_RUN = textwrap.dedent(
    """
    import os, subprocess, sys
    from tests.support.leftovers import scratch_dir
    from tests.support.servers import PostgresServer, RedisServer
    pg, cache, spare = PostgresServer().start(), RedisServer().start(), scratch_dir("spare")
    sleeper = subprocess.Popen(
        ["sleep", "600"], cwd=spare, start_new_session=True, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    print(pg.datadir, cache.workdir, spare, pg.process.pid, cache.process.pid, sleeper.pid)
    sys.stdout.flush()
    os.kill(os.getpid(), 9)
    """
)


def _killed_run() -> tuple[list[Path], list[int]]:
    done = subprocess.run(
        [sys.executable, "-c", KILLED_RUN], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == -9, done.stderr
    words = done.stdout.split()
    return [Path(w) for w in words[:3]], [int(w) for w in words[3:]]


def test_servers_of_a_killed_run_are_found_and_removed():
    dirs, pids = _killed_run()
    assert all(running(pid) for pid in pids)
    assert set(dirs) <= set(leftovers())

    removed = reap(dirs)

    assert set(dirs) == set(removed)
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in pids if running(pid)]
    assert not [d for d in dirs if d.exists()]
    assert not [d for d in dirs if processes_of(d)]


@pytest.mark.parametrize("server", [RedisServer, PostgresServer])
def test_a_server_its_test_stopped_leaves_neither_its_directory_nor_its_owner_file(server):
    started = server().start()
    scratch = started.workdir if server is RedisServer else started.datadir

    started.stop()

    assert not scratch.exists()
    assert not owner_file(scratch).exists()


def test_an_owner_file_whose_directory_is_gone_is_removed():
    gone = scratch_dir("gone")
    gone.rmdir()  # as a teardown killed between removing the directory and its owner file

    reap([gone])

    assert not owner_file(gone).exists()


def test_a_directory_whose_owner_runs_is_left_alone():
    mine = scratch_dir("alive")
    try:
        assert mine not in leftovers()
        reap([mine])
        assert mine.is_dir()
    finally:
        owner_file(mine).unlink()
        mine.rmdir()


def test_a_reused_pid_is_not_taken_for_the_owner():
    """The owner file names pid and start time: the same pid, started later, is another process."""
    stale = scratch_dir("reused")
    owner_file(stale).write_text(f"{os.getpid()} 1")
    assert stale in leftovers()
    reap([stale])
    assert not stale.exists()


def test_a_killed_deployment_loses_its_cluster_and_user():
    """What an e2e deployment makes outside its directory: a pg_createcluster cluster
    (in /etc/postgresql) and a service user, both named after things inside it."""
    root = scratch_dir("deploy")
    tag = root.name.rsplit("-", 1)[1].lower().replace("_", "")
    cluster, user = f"goalgpt_leftover_{tag}", f"glo{tag}"[:30]
    root.chmod(0o755)
    port = str(free_port())
    subprocess.run(
        [
            "pg_createcluster",
            "--start",
            "-d",
            str(root / "pgdata"),
            "-p",
            port,
            PG_VERSION,
            cluster,
        ],
        check=True,
        capture_output=True,
    )
    # As the postgresql role does: a file of its own in the cluster's configuration.
    conf = PG_CONF_ROOT / PG_VERSION / cluster
    (conf / "conf.d" / "goalgpt.conf").write_text("max_connections = 100\n")
    subprocess.run(["useradd", "--home-dir", str(root / "home"), user], check=True)
    # Its owner dies only now: a test run's own start-up reap cannot take it half-made.
    owner_file(root).write_text(f"{os.getpid()} 1")

    reap([root])

    clusters = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True)
    assert cluster not in clusters.stdout
    assert not conf.exists()
    assert subprocess.run(["id", user], capture_output=True).returncode != 0
    assert not root.exists()
