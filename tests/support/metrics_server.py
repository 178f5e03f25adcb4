"""A real HTTP server exposing real prometheus_client metrics, changed scrape by scrape.

Before serving scrape number k it runs `steps[k]` on the metrics, so a test
states what the app's counters do between the monitor's samples without
depending on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from app.infra import metric_names as names


class AppMetrics:
    """The app's metrics under its names (app/infra/metric_names.py), in a registry of
    their own (prometheus_client takes a counter's name with its `_total`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.too_many_clients = Counter(
            names.DB_TOO_MANY_CLIENTS_TOTAL, "refusals", ["source"], registry=self.registry
        )
        self.cache = Counter(
            names.CACHE_REQUESTS_TOTAL, "cache", ["result"], registry=self.registry
        )
        self.pool_waiting = Gauge(names.DB_POOL_WAITING, "waiting", registry=self.registry)
        self.pool_max = Gauge(names.DB_POOL_MAX, "max", registry=self.registry)
        self.refusals_last_hour = Gauge(
            names.DB_TOO_MANY_CLIENTS_LAST_HOUR, "last hour", registry=self.registry
        )
        self.job_refusals_last_hour = Gauge(
            names.JOB_TOO_MANY_CLIENTS_LAST_HOUR, "jobs' last hour", registry=self.registry
        )
        self.too_many_clients.labels("connect")
        for result in ("hit", "miss", "stale"):
            self.cache.labels(result)
        self.pool_max.set(50)

    def requests(self, hit: int = 0, miss: int = 0, stale: int = 0) -> None:
        for result, count in (("hit", hit), ("miss", miss), ("stale", stale)):
            self.cache.labels(result).inc(count)


Step = Callable[[AppMetrics], None] | None


class ScriptedMetricsServer:
    def __init__(self, steps: Sequence[Step] = ()) -> None:
        self.metrics = AppMetrics()
        self.steps = list(steps)
        self.scrapes = 0
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/metrics"

    def start(self) -> ScriptedMetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def _render(self) -> bytes:
        with self._lock:
            if self.scrapes < len(self.steps) and self.steps[self.scrapes]:
                self.steps[self.scrapes](self.metrics)
            self.scrapes += 1
            return generate_latest(self.metrics.registry)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/metrics":
                    self.send_error(404)
                    return
                body = server._render()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
