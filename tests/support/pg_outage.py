"""Take a throwaway PostgreSQL down and bring it back on the same port and data.

`PostgresServer.stop()` deletes the data directory; an outage must not. The
server is restarted with the exact command line it was started with (read
from /proc), so it comes back with the same port, settings and databases.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support.processes import start_in_own_group
from tests.support.servers import PostgresServer, _wait_until


def stop_keeping_data(server: PostgresServer) -> list[str]:
    """Fast shutdown (connections are cut, nothing is lost); returns the command to restart."""
    assert server.process is not None
    raw = Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    argv = [part.decode() for part in raw.split(b"\0") if part]
    os.killpg(server.process.pid, signal.SIGINT)
    server.process.wait(timeout=30)
    return argv


def restart(server: PostgresServer, argv: list[str]) -> None:
    """Start the server again with `argv` and wait until it accepts connections."""
    assert server.datadir is not None
    log = server.datadir / "postgres.log"
    server.process = start_in_own_group(argv, log)
    _wait_until(server._accepts, "postgres (restart)", server.process, log)
