"""TCP connects to many (address, port) pairs at once, from wherever the script runs:
a lab host over SSH, or a network namespace of a test. One process, one thread per
pair: a whole firewall matrix costs one round trip per source, not one per pair."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Sequence

CONNECT_TIMEOUT_S = 3
SCRIPT = f"""
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def connects(target):
    try:
        socket.create_connection(tuple(target), timeout={CONNECT_TIMEOUT_S}).close()
        return True
    except OSError:
        return False
targets = json.load(sys.stdin)
with ThreadPoolExecutor(max(1, len(targets))) as pool:
    print(json.dumps(list(pool.map(connects, targets))))
"""


def connects(runner: Sequence[str], targets: Sequence[tuple[str, int]]) -> list[bool]:
    """Whether a TCP connect to each target completes, run by `runner` (an argv prefix
    that runs a shell command line, e.g. ssh to a host, or `ip netns exec NS sh -c`)."""
    done = subprocess.run(
        [*runner, f"python3 -c {shlex.quote(SCRIPT)}"],
        input=json.dumps([list(t) for t in targets]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{shlex.join(runner)}: {done.stderr[-500:]}"
    return json.loads(done.stdout)
