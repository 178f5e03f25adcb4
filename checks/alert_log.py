"""`python -m checks.alert_log`: Alertmanager's default receiver, a log an operator can read.

A webhook receiver needing nothing outside the machine: every alert Alertmanager
posts becomes one JSON line (received time, status, labels, annotations, start)
appended to --log. `GET /-/healthy` answers 200. Standard library only, so it
runs with the system python3 on the monitoring host. Exit 0 when stopped by
SIGTERM or Ctrl-C, 2 when it cannot start (bad address, unwritable log).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

MAX_BODY = 4 * 1024 * 1024
STAMP = "%Y-%m-%dT%H:%M:%SZ"  # when each alert was received, in UTC


def lines(payload: dict[str, Any], received: str) -> list[str]:
    """One JSON line per alert in an Alertmanager webhook payload."""
    return [
        json.dumps(
            {
                "received": received,
                "status": alert.get("status", payload.get("status")),
                "alertname": alert.get("labels", {}).get("alertname"),
                "labels": alert.get("labels", {}),
                "annotations": alert.get("annotations", {}),
                "startsAt": alert.get("startsAt"),
                "receiver": payload.get("receiver"),
            },
            sort_keys=True,
        )
        for alert in payload.get("alerts", [])
    ]


def handler(log: Path, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(200 if self.path == "/-/healthy" else 404)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                self._answer(400)
                return
            try:
                payload = json.loads(self.rfile.read(length))
                if not isinstance(payload, dict):
                    raise ValueError("not an object")
            except ValueError:
                self._answer(400)
                return
            stamp = datetime.now(UTC).strftime(STAMP)
            with lock, log.open("a") as out:
                out.writelines(line + "\n" for line in lines(payload, stamp))
            self._answer(200)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the log file is for alerts only

    return Handler


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m checks.alert_log",
        description="Receive Alertmanager webhooks and append each alert as a JSON line "
        "to --log. Exit 0 stopped by SIGTERM or Ctrl-C, 2 could not start.",
    )
    parser.add_argument("--listen", type=_address, required=True, metavar="HOST:PORT")
    parser.add_argument("--log", type=Path, required=True, metavar="FILE")
    args = parser.parse_args(argv)
    try:
        args.log.open("a").close()
        server = ThreadingHTTPServer(args.listen, handler(args.log, threading.Lock()))
    except OSError as exc:
        print(f"alert log not started: {exc.strerror or exc}", file=sys.stderr)
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
