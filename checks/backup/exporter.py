"""`python -m checks.backup.exporter --listen HOST:PORT -- PGBACKREST...`: the repository
as Prometheus metrics, read at every scrape of /metrics.

goalgpt_backup_repository_up (1: info read the stanza), goalgpt_backup_count and, per
type (full, diff, incr), goalgpt_backup_last_good_timestamp_seconds (0: none yet, so
"no backup" is as old as it gets). PGBACKREST is the program and its options, e.g.
`pgbackrest --config-path=/etc/pgbackrest --stanza=goalgpt`. Exit 0 stopped by SIGTERM
or Ctrl-C, 2 could not start.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

from checks.backup import info


def render(command: Sequence[str]) -> str:
    """The Prometheus text for the repository right now."""
    try:
        stanza = info.read(command)
    except info.InfoError as exc:
        print(exc, file=sys.stderr, flush=True)
        stanza = None
    up = stanza is not None and stanza.readable
    out = [
        f"# HELP {info.REPOSITORY_UP} 1 when pgbackrest info read the stanza",
        f"# TYPE {info.REPOSITORY_UP} gauge",
        f"{info.REPOSITORY_UP} {int(up)}",
    ]
    if not up:
        return "\n".join(out) + "\n"
    out += [
        f"# HELP {info.BACKUPS} Backups in the repository",
        f"# TYPE {info.BACKUPS} gauge",
        f"{info.BACKUPS} {len(stanza.backups)}",
        f"# HELP {info.LAST_GOOD} Unix time the newest good backup of each type completed "
        "(0: none)",
        f"# TYPE {info.LAST_GOOD} gauge",
    ]
    for kind in info.TYPES:
        newest = stanza.newest(kind)
        out.append(f'{info.LAST_GOOD}{{type="{kind}"}} {newest.stopped if newest else 0:.0f}')
    return "\n".join(out) + "\n"


def handler(command: Sequence[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/metrics":
                self._answer(404, b"")
                return
            self._answer(200, render(command).encode())

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per scrape says nothing

    return Handler


def _address(text: str) -> tuple[str, int]:
    # alert_log.py parses it alike: each is shipped alone (roles/pgbackrest/tasks/tools.yml,
    # roles/alertmanager), so neither can import a module the other could share.
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m checks.backup.exporter",
        description="Serve pgBackRest's repository state as Prometheus metrics on /metrics. "
        "Exit 0 stopped by SIGTERM or Ctrl-C, 2 could not start.",
    )
    parser.add_argument("--listen", type=_address, required=True, metavar="HOST:PORT")
    parser.add_argument("pgbackrest", nargs="+", help="pgbackrest and its options (after --)")
    args = parser.parse_args(argv)
    try:
        info.stanza_of(args.pgbackrest)
        server = ThreadingHTTPServer(args.listen, handler(args.pgbackrest))
    except (OSError, info.InfoError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        print(f"backup exporter not started: {reason}", file=sys.stderr)
        return 2

    def stop(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    with server:
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
