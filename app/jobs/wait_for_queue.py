"""`python -m app.jobs.wait_for_queue PROGRAM [ARG...]`: wait for the queue Redis, then run PROGRAM.

A worker started while the queue Redis is down (a reboot, a deploy, a runbook's
restart during the outage) would exit at once: `rq worker` asks Redis before
anything else. Quick exits make systemd (start limit) and supervisord (FATAL)
give up for good. This waits until the queue Redis (RQ_REDIS_URL) answers and
never evicts, then replaces itself with PROGRAM (same process: the process manager
keeps watching it). A PROGRAM without a slash is taken from this Python's own
directory (the release's venv/bin). Exit 1 when the queue Redis may evict jobs,
2 on a bad setting, 127 when PROGRAM does not exist.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app import cli, config
from app.infra import queue_redis

USAGE = "usage: python -m app.jobs.wait_for_queue PROGRAM [ARG...]"


def program_path(program: str) -> str:
    """PROGRAM as given when it has a slash, else beside this Python (the venv's bin)."""
    return program if "/" in program else str(Path(sys.executable).parent / program)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(f"{USAGE}\nerror: PROGRAM is required", file=sys.stderr)
        return 2
    if args[0] in ("-h", "--help"):
        print(f"{USAGE}\n\n{__doc__.split(chr(10) * 2, 1)[1]}", end="")
        return 0
    program = program_path(args[0])
    if not os.access(program, os.X_OK):
        print(f"error: cannot run {program}: no such program", file=sys.stderr)
        return 127
    settings = config.load_or_exit()
    with queue_redis.connect(settings, timeout_s=queue_redis.CONNECT_TIMEOUT_S) as client:
        queue_redis.wait_until_usable(client, " ".join(args[:2]), settings.RQ_REDIS_URL)
    os.execv(program, [program, *args[1:]])


if __name__ == "__main__":
    cli.run(main)
