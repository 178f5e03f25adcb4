"""`python -m checks.monitor --prometheus-url URL --duration S`: the live run with a real
Prometheus's current values as samples (raise_pool's watch with a monitoring host).
Prometheus scrapes a real /metrics server every second; the test changes its values
while the monitor runs."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from prometheus_client import Gauge

from tests.support.metrics_server import ScriptedMetricsServer
from tests.support.paths import REPO
from tests.support.processes import module_argv
from tests.support.prometheus import PrometheusServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.slow


class Scraped:
    """An app's /metrics, with the postgres exporter's active connections beside it."""

    def __init__(self, with_database: bool = True) -> None:
        self.app = ScriptedMetricsServer().start()
        self.active = Gauge(
            "pg_stat_activity_count", "sessions", ["state"], registry=self.app.metrics.registry
        )
        if with_database:
            self.active.labels("active").set(3)
        self.prometheus = PrometheusServer(scrape=[self.app.url], scrape_interval="1s").start()

    def wait_scraped(self, expr: str) -> None:
        deadline = time.monotonic() + 60
        while not self.prometheus.query(expr):
            assert time.monotonic() < deadline, f"Prometheus never saw {expr}"
            time.sleep(0.5)

    def stop(self) -> None:
        self.prometheus.stop()
        self.app.stop()


@pytest.fixture
def scraped() -> Iterator[Scraped]:
    made = Scraped()
    yield made
    made.stop()


def watch(url: str, seconds: int) -> subprocess.Popen[str]:
    argv = module_argv("checks.monitor", "--prometheus-url", url)
    argv += ["--duration", str(seconds), "--interval", "1", "--json"]
    return subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(proc: subprocess.Popen[str]) -> tuple[int, list[dict], dict, str]:
    out, err = proc.communicate(timeout=60)
    lines = [json.loads(line) for line in out.splitlines()]
    return proc.returncode, [e for e in lines if e["type"] == "alert"], lines[-1], err


class Watching:
    """A monitor run whose JSON lines the test reads as they come, stopped by SIGTERM."""

    def __init__(self, url: str) -> None:
        self.proc = watch(url, seconds=600)
        self.lines: list[dict] = []
        self.reader = threading.Thread(target=self._read)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def wait_line(self, kind: str, after: int = 0) -> int:
        """The number of lines read once one of `kind` came after the first `after`."""
        wait_for(lambda: any(e["type"] == kind for e in self.lines[after:]), 60, f"a {kind} line")
        return len(self.lines)

    def stop(self) -> tuple[int, list[dict], dict, str]:
        self.proc.terminate()  # the monitor prints its summary on SIGTERM
        self.proc.wait(timeout=60)
        self.reader.join()  # stdout is the reader's alone: communicate() would race it for lines
        assert self.proc.stderr is not None
        err = self.proc.stderr.read()
        alerts = [e for e in self.lines if e["type"] == "alert"]
        return self.proc.returncode, alerts, self.lines[-1], err


def test_errors_counted_before_the_watch_do_not_fire_and_four_during_it_do(scraped):
    scraped.app.metrics.too_many_clients.labels("connect").inc(10)  # before the watch
    scraped.app.metrics.requests(miss=100)
    scraped.wait_scraped("goalgpt_db_too_many_clients_total >= 10")

    watching = Watching(scraped.prometheus.url)
    try:
        watching.wait_line("sample")  # the baseline: what was counted before is left out
        scraped.app.metrics.too_many_clients.labels("connect").inc(4)
        scraped.app.metrics.requests(hit=30, miss=10)
        scraped.wait_scraped('goalgpt_cache_requests_total{result="hit"} >= 30')
        scraped.wait_scraped("goalgpt_db_too_many_clients_total >= 14")
        watching.wait_line("sample", after=watching.wait_line("alert"))
    finally:
        code, alerts, summary, err = watching.stop()

    assert code == 1, err
    assert [(a["metric"], a["value"]) for a in alerts] == [("max_clients_errors", 4)]
    assert summary["too_many_clients_total"] == 4
    assert summary["sources"] == [
        f"{scraped.prometheus.url} (goalgpt_* series of the app hosts)",
        f"{scraped.prometheus.url} (pg_stat_activity_count of postgres_exporter)",
    ]
    assert summary["unread_sources"] == []
    assert {m: s["samples"] > 0 for m, s in summary["metrics"].items()} == {
        "max_clients_errors": True,
        "cache_hit_rate": True,
        "db_active_connections": True,
        "pool_waiting": True,
    }
    assert summary["metrics"]["db_active_connections"]["max"] == 3
    assert summary["cache_requests_total"] == 40  # the misses before the watch left out


def test_pool_waiting_above_5_fires_and_a_quiet_watch_exits_0(scraped):
    scraped.app.metrics.pool_waiting.set(6)
    scraped.wait_scraped("goalgpt_db_pool_waiting == 6")
    code, alerts, _, err = finished(watch(scraped.prometheus.url, seconds=2))
    assert code == 1, err
    assert [(a["metric"], a["value"]) for a in alerts] == [("pool_waiting", 6)]

    scraped.app.metrics.pool_waiting.set(5)
    scraped.wait_scraped("goalgpt_db_pool_waiting == 5")
    code, alerts, _, err = finished(watch(scraped.prometheus.url, seconds=2))
    assert (code, alerts) == (0, []), err


def test_a_prometheus_without_the_postgres_exporter_cannot_watch():
    scraped = Scraped(with_database=False)
    try:
        scraped.wait_scraped("goalgpt_db_pool_max")
        code, _, summary, err = finished(watch(scraped.prometheus.url, seconds=2))
    finally:
        scraped.stop()

    assert code == 2
    assert "never read" in err and "pg_stat_activity_count" in err
    assert summary["metrics"]["db_active_connections"]["samples"] == 0


def test_an_unreachable_prometheus_exits_2_saying_why():
    proc = watch("http://127.0.0.1:9", seconds=1)
    out, err = proc.communicate(timeout=60)

    assert proc.returncode == 2
    errors = [json.loads(line) for line in out.splitlines() if '"error"' in line]
    assert "cannot reach Prometheus at http://127.0.0.1:9" in errors[0]["error"]
    assert err.startswith("monitor failed: never read: http://127.0.0.1:9")
    assert "Traceback" not in err
