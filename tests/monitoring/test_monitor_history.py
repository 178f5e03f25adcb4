"""`python -m checks.monitor --prometheus-url`: the seed's report from a real Prometheus.

History is written with `promtool tsdb create-blocks-from openmetrics` (one
sample a minute, as a 60 s scrape would store it) so each threshold's edge is
exact; one test has Prometheus scrape a real /metrics server live instead.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.monitoring.story import Story
from tests.support.metrics_server import ScriptedMetricsServer
from tests.support.processes import run_module
from tests.support.prometheus import PrometheusServer

pytestmark = pytest.mark.slow


def monitor(*args: str) -> subprocess.CompletedProcess[str]:
    return run_module("checks.monitor", *args, timeout=120)


def report(done: subprocess.CompletedProcess[str]) -> tuple[list[dict], dict]:
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return [e for e in lines if e["type"] == "alert"], lines[-1]


def at_edges(story: Story) -> Story:
    """Every metric at its threshold, not past it."""
    story.errors_at(150, 149, 148)  # 3 in an hour
    story.errors_at(80, 20)  # more, never 4 within an hour
    story.set(story.active, 46, first_ago=90, last_ago=86)  # 46 for 4 min
    story.set(story.waiting, 5, first_ago=40, last_ago=35)
    story.hits_per_min, story.misses_per_min = 20, 20  # exactly 50 %
    return story


def past_edges(story: Story) -> Story:
    story.errors_at(150, 149, 148, 147)  # 4 in an hour
    story.set(story.active, 46, first_ago=90, last_ago=85)  # 46 for 5 min
    story.set(story.waiting, 6, first_ago=40, last_ago=35)
    story.hits_per_min, story.misses_per_min = 49, 51  # 49 %
    return story


def test_history_at_every_edge_fires_nothing(prometheus_with):
    prometheus = prometheus_with(at_edges(Story()))

    done = monitor("--prometheus-url", prometheus.url, "--since", "4h", "--json")

    assert done.returncode == 0, done.stdout + done.stderr
    alerts, summary = report(done)
    assert alerts == []
    metrics = summary["metrics"]
    assert metrics["max_clients_errors"]["max"] == 3
    assert metrics["db_active_connections"]["max"] == 46
    assert metrics["pool_waiting"]["max"] == 5
    assert metrics["cache_hit_rate"]["min"] == pytest.approx(50)
    assert summary["too_many_clients_total"] == 5


def test_history_past_every_edge_fires_each_alert_when_it_happened(prometheus_with):
    story = past_edges(Story())
    prometheus = prometheus_with(story)

    done = monitor("--prometheus-url", prometheus.url, "--since", "4h", "--json")

    assert done.returncode == 1, done.stdout + done.stderr
    alerts, summary = report(done)
    assert sorted(a["metric"] for a in alerts) == [
        "cache_hit_rate",
        "db_active_connections",
        "max_clients_errors",
        "pool_waiting",
    ]
    by_metric = {a["metric"]: a for a in alerts}
    fourth_error = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(story.minute(147)))
    next_minute = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(story.minute(146)))
    assert by_metric["max_clients_errors"]["time"][:16] in (fourth_error, next_minute)
    assert by_metric["max_clients_errors"]["value"] == 4
    assert by_metric["db_active_connections"]["value"] == 46
    assert by_metric["pool_waiting"]["value"] == 6
    assert by_metric["cache_hit_rate"]["value"] == pytest.approx(49)
    fired = {f["metric"]: f for f in summary["fired"]}
    assert fired["pool_waiting"]["action"] == "Check for connection leaks"
    assert fired["cache_hit_rate"]["times"] == 1  # one episode: the whole range


def test_text_report_has_the_seeds_summary_and_recommendations(prometheus_with):
    prometheus = prometheus_with(past_edges(Story()))

    done = monitor("--prometheus-url", prometheus.url, "--since", "4h")

    assert done.returncode == 1
    assert "=== POOL HEALTH SUMMARY ===" in done.stdout
    assert "🚨 MaxClients errors detected: 4 in the last 1h" in done.stdout
    assert "Action: Increase PREDICTIONS_CACHE_TTL_S from 30s to 60s" in done.stdout


def test_since_leaves_out_what_happened_before(prometheus_with):
    story = Story().errors_at(150, 149, 148, 147)
    prometheus = prometheus_with(story)

    recent = monitor("--prometheus-url", prometheus.url, "--since", "60m", "--json")
    whole = monitor("--prometheus-url", prometheus.url, "--since", "3h", "--json")

    assert recent.returncode == 0, recent.stdout + recent.stderr
    assert report(recent)[1]["too_many_clients_total"] == 0
    assert whole.returncode == 1
    assert report(whole)[1]["too_many_clients_total"] == 4


def test_live_scrapes_of_a_real_metrics_server_are_reported():
    app = ScriptedMetricsServer().start()
    app.metrics.pool_waiting.set(7)
    prometheus = PrometheusServer(scrape=[app.url], scrape_interval="1s").start()
    try:
        deadline = time.monotonic() + 60
        while not prometheus.query("count_over_time(goalgpt_db_pool_waiting[1m]) >= 4"):
            assert time.monotonic() < deadline, "Prometheus never scraped the app"
            time.sleep(0.5)

        done = monitor(
            "--prometheus-url", prometheus.url, "--since", "30s", "--interval", "1", "--json"
        )
    finally:
        prometheus.stop()
        app.stop()

    assert done.returncode == 1, done.stdout + done.stderr
    alerts, summary = report(done)
    assert [a["metric"] for a in alerts] == ["pool_waiting"]
    assert summary["metrics"]["pool_waiting"]["max"] == 7
    assert summary["metrics"]["max_clients_errors"]["max"] == 0


def test_no_data_in_prometheus_exits_2():
    prometheus = PrometheusServer().start()
    try:
        done = monitor("--prometheus-url", prometheus.url, "--since", "10m")
    finally:
        prometheus.stop()

    assert done.returncode == 2
    assert "has no GoalGPT series in the last 10min" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prometheus-url", "http://127.0.0.1:9"], "cannot reach Prometheus at"),
        (["--prometheus-url", "http://x", "--since", "ten"], "is not a duration like"),
        (["--prometheus-url", "http://x", "--dsn", "postgresql://"], "drop --metrics-url"),
        (["--since", "1h", "--metrics-url", "http://x"], "--since needs --prometheus-url"),
    ],
)
def test_bad_use_is_one_line_and_exit_2(args, message):
    done = monitor(*args)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
