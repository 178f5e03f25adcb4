"""Watch a service from outside: which process holds a socket, what PostgreSQL is running.

Tests read these instead of the app's own counters: the kernel says which
gunicorn worker accepted a connection (`ss`), pg_stat_activity says which
queries are running or waiting, the server log says which statements failed.
`Requests` opens its HTTP connections first and learns each one's worker, then
sends every request at once and times each answer.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg

from app.web.query import QUERY_TAG

_OWNER = re.compile(r"pid=(\d+)")


def socket_owners(port: int, *, local: bool) -> dict[int, set[int]]:
    """Established TCP sockets on 127.0.0.1 whose local (or peer) port is `port`:
    {the other end's port: pids holding the socket}. Sockets no process has
    accepted yet are left out."""
    side = "sport" if local else "dport"
    out = subprocess.run(
        ["ss", "-Htnp", "state", "established", "(", side, "=", f":{port}", ")"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    owners: dict[int, set[int]] = {}
    for line in out.splitlines():
        fields = line.split()
        # Recv-Q Send-Q Local:Port Peer:Port users:((...))
        if len(fields) < 5:
            continue
        other = fields[3] if local else fields[2]
        pids = {int(p) for p in _OWNER.findall(line)}
        if pids:
            owners[int(other.rsplit(":", 1)[1])] = pids
    return owners


def tagged_backends(database_url: str) -> list[dict]:
    """Backends running (or waiting to run) the predictions query right now."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, client_port, wait_event_type FROM pg_stat_activity "
            "WHERE state = 'active' AND query LIKE %s AND pid <> pg_backend_pid()",
            [f"%{QUERY_TAG}%"],
        ).fetchall()
    return [{"pid": r[0], "client_port": r[1], "wait": r[2]} for r in rows]


def process_of_backend(client_port: int, pg_port: int) -> int:
    """The pid of the client process holding the connection that uses `client_port`."""
    [pid] = socket_owners(pg_port, local=False)[client_port]
    return pid


def failed_statements(log_text: str) -> list[str]:
    """The predictions statements PostgreSQL logged as failed (STATEMENT lines)."""
    return [line for line in log_text.splitlines() if "STATEMENT:" in line and QUERY_TAG in line]


@dataclass
class Answer:
    worker: int  # pid of the gunicorn worker that accepted the connection
    status: int | None = None  # None: the connection broke
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    latency_s: float = 0.0
    error: str = ""

    def json(self) -> dict:
        return json.loads(self.body)


class Requests:
    """`n` keep-alive connections to a gunicorn on `port`, each tied to its worker."""

    def __init__(self, port: int, n: int, timeout_s: float = 60) -> None:
        self.port = port
        self.conns = [
            http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s) for _ in range(n)
        ]
        for conn in self.conns:
            conn.connect()
        self.workers = self._workers()
        self._pool = ThreadPoolExecutor(n)

    def _workers(self, timeout_s: float = 20) -> list[int]:
        ports = [conn.sock.getsockname()[1] for conn in self.conns]
        deadline = time.monotonic() + timeout_s
        while True:
            owners = socket_owners(self.port, local=True)
            if all(p in owners for p in ports):
                return [min(owners[p]) for p in ports]
            if time.monotonic() > deadline:
                raise AssertionError(f"gunicorn accepted {len(owners)} of {len(ports)} connections")
            time.sleep(0.05)

    def send(self, path: str) -> list[Future[Answer]]:
        """Send GET `path` on every connection at once; one future per connection."""
        barrier = threading.Barrier(len(self.conns))
        return [
            self._pool.submit(self._one, conn, worker, path, barrier)
            for conn, worker in zip(self.conns, self.workers, strict=True)
        ]

    @staticmethod
    def _one(conn, worker: int, path: str, barrier: threading.Barrier) -> Answer:
        barrier.wait()
        started = time.monotonic()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Answer(worker, latency_s=time.monotonic() - started, error=repr(exc))
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Answer(worker, response.status, headers, body, time.monotonic() - started)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        for conn in self.conns:
            conn.close()
