"""A real gunicorn serving the app, for tests and benchmarks.

`GunicornServer(env).start()` runs `gunicorn -c app/gunicorn_conf.py app.wsgi:app`
on a free port with its own PROMETHEUS_MULTIPROC_DIR, waits until /healthz
answers and every worker has built its app, and `stop()` kills the process
group and removes the directory. `env` points it at the test PostgreSQL and
Redis (DATABASE_URL, REDIS_URL and any other setting).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.leftovers import scratch_dir
from tests.support.processes import module_argv, start_in_own_group, stop_server
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def get(url: str, timeout: float = 30.0) -> Response:
    """GET without raising on 4xx/5xx; header names lowercased."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return Response(answer.status, _headers(answer.headers), answer.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, _headers(error.headers), error.read())


def _headers(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@dataclass
class GunicornServer:
    env: dict[str, str]
    workers: int = 2
    threads: int = 8
    app: str = "app.wsgi:app"
    port: int = 0
    metrics_dir: Path | None = None
    process: subprocess.Popen | None = None
    log_path: Path | None = None

    def start(self) -> GunicornServer:
        self.port = free_port()
        self.metrics_dir = scratch_dir("metrics")
        self.log_path = self.metrics_dir.with_suffix(".log")
        env = {
            **os.environ,
            # One test Redis for the cache and the queues unless the test gives two:
            # never the default queue Redis (127.0.0.1:6380) of this machine.
            **({"RQ_REDIS_URL": self.env["REDIS_URL"]} if "REDIS_URL" in self.env else {}),
            **self.env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(self.workers),
            "GUNICORN_THREADS": str(self.threads),
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
        }
        argv = module_argv("gunicorn", "-c", "app/gunicorn_conf.py", self.app)
        self.process = start_in_own_group(argv, self.log_path, cwd=ROOT, env=env)
        self._wait_ready()
        return self

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 30.0) -> Response:
        return get(self.url(path), timeout)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def worker_pids(self) -> set[int]:
        """Workers that built their app (each writes pool gauges within a second)."""
        return {int(p.stem.rsplit("_", 1)[1]) for p in self.metrics_dir.glob("gauge_liveall_*.db")}

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited at start-up:\n{self.log_text()[-3000:]}")
            if len(self.worker_pids()) >= self.workers and self._healthy():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn not ready in {START_TIMEOUT_S}s:\n{self.log_text()[-3000:]}")

    def _healthy(self) -> bool:
        try:
            return self.get("/healthz", timeout=2).status == 200
        except OSError:
            return False

    def stop(self) -> None:
        stop_server(self.process, signal.SIGTERM, 15, self.metrics_dir)
        if self.log_path:
            self.log_path.unlink(missing_ok=True)


@contextmanager
def serving(
    database_url: str, redis_url: str, workers: int, threads: int, **settings: object
) -> Iterator[GunicornServer]:
    """A started server on this PostgreSQL and Redis, with any other `settings` (each
    value as str()), stopped when the block ends."""
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    env |= {name: str(value) for name, value in settings.items()}
    server = GunicornServer(env, workers=workers, threads=threads).start()
    try:
        yield server
    finally:
        server.stop()
