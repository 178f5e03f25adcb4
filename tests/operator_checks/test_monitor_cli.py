"""`python -m checks.monitor` against real /metrics servers and a real PostgreSQL.

Each provoked condition fires its own alert and no other; windows are
shortened through --thresholds, the way an operator would.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from app.config import mask_url
from tests.support.checks import MONITOR_PASSWORD, NOGRANT_PASSWORD
from tests.support.paths import REPO
from tests.support.pgbouncer import clients_waiting
from tests.support.processes import module_argv
from tests.support.servers import free_port

FAST = ("--interval", "0.3", "--duration", "0.9")  # four samples: t = 0, 0.3, 0.6, 0.9
SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
    "AND state = 'active' AND query LIKE '%pg_sleep%'"
)


def events(probe) -> list[dict]:
    return [json.loads(line) for line in probe.stdout.splitlines()]


def alerts(probe) -> list[str]:
    return [e["metric"] for e in events(probe) if e["type"] == "alert"]


def live_alerts(probe) -> list[str]:
    """The timestamped alert lines printed while running (text mode)."""
    lines = probe.stdout.splitlines()
    return [line for line in lines if line.startswith("[") and ("🚨" in line or "⚠️" in line)]


def summary(probe) -> dict:
    (last,) = [e for e in events(probe) if e["type"] == "summary"]
    return last


def test_clean_run_exits_0_and_summarises_every_metric(metrics_server, run_check):
    app = metrics_server(None, lambda m: m.requests(hit=30, miss=5), lambda m: m.requests(hit=20))

    probe = run_check("checks.monitor", "--metrics-url", app.url, *FAST, "--json")

    assert probe.returncode == 0, probe.stderr
    assert alerts(probe) == []
    result = summary(probe)
    assert result["samples"] == 4
    assert result["fired"] == []
    assert result["cache_requests_total"] == 55
    assert result["metrics"]["cache_hit_rate"]["max"] == pytest.approx(100 * 50 / 55, abs=0.01)
    assert result["metrics"]["pool_waiting"] == {"samples": 4, "min": 0, "avg": 0, "max": 0}


def test_max_clients_errors_within_the_window_fire_that_alert_only(metrics_server, run_check):
    def refuse(n):
        return lambda m: m.too_many_clients.labels("connect").inc(n)

    app = metrics_server(None, refuse(2), refuse(2))

    probe = run_check("checks.monitor", "--metrics-url", app.url, *FAST)

    assert probe.returncode == 1
    live = live_alerts(probe)
    assert len(live) == 1
    assert live[0].endswith(
        "🚨 MaxClients errors detected: 4 in the last 1h (target: 0, trigger: >3 in 1h)"
    )
    assert "   Action: Investigate query optimization or increase pool" in probe.stdout
    assert "=== POOL HEALTH SUMMARY ===" in probe.stdout


def test_low_cache_hit_rate_fires_that_alert_only(metrics_server, run_check):
    app = metrics_server(None, lambda m: m.requests(hit=9, miss=21))

    probe = run_check("checks.monitor", "--metrics-url", app.url, *FAST, "--json")

    assert probe.returncode == 1
    assert alerts(probe) == ["cache_hit_rate"]
    (alert,) = [e for e in events(probe) if e["type"] == "alert"]
    assert alert["value"] == 30.0
    assert alert["action"] == "Increase PREDICTIONS_CACHE_TTL_S from 30s to 60s"


def test_pool_waiting_is_summed_over_every_app_host(metrics_server, run_check):
    first = metrics_server(lambda m: m.pool_waiting.set(4))
    second = metrics_server(lambda m: m.pool_waiting.set(3))

    probe = run_check(
        "checks.monitor", "--metrics-url", first.url, "--metrics-url", second.url, *FAST, "--json"
    )

    assert probe.returncode == 1
    assert alerts(probe) == ["pool_waiting"]
    assert summary(probe)["metrics"]["pool_waiting"]["max"] == 7


@pytest.mark.parametrize(("waiting", "fired"), [(5, []), (6, ["pool_waiting"])])
def test_clients_waiting_in_pgbouncer_count_in_the_pool_waiting_queue(
    bouncer_urls, run_check, waiting, fired
):
    pooled_url, console_url = bouncer_urls
    with clients_waiting(pooled_url, console_url, waiting):
        probe = run_check("checks.monitor", "--pgbouncer-dsn", console_url, *FAST, "--json")

    assert probe.returncode == (1 if fired else 0), probe.stderr
    assert alerts(probe) == fired
    result = summary(probe)
    assert result["metrics"]["pool_waiting"]["max"] == waiting
    assert result["sources"] == [f"PgBouncer {mask_url(console_url)} (SHOW POOLS)"]
    assert MONITOR_PASSWORD not in probe.stdout


def five_active_sessions(sessions, thresholds_file, sustained_s: float) -> str:
    """Five sessions running; the thresholds file of an alert above 3 for `sustained_s`."""
    limits = thresholds_file(
        monitor={"db_active_connections": {"trigger_above": 3, "sustained_s": sustained_s}}
    )
    idle = sessions.open(1)
    sessions.running(5)
    sessions.wait_for(idle[0], SLEEPING, 5)
    return limits


def test_sustained_db_active_connections_fire_that_alert_only(
    metrics_server, run_check, sessions, monitor_url, thresholds_file
):
    limits = five_active_sessions(sessions, thresholds_file, sustained_s=0.5)
    app = metrics_server()

    probe = run_check(
        "checks.monitor",
        "--metrics-url",
        app.url,
        "--dsn",
        monitor_url,
        "--thresholds",
        limits,
        *FAST,
    )

    assert probe.returncode == 1
    live = live_alerts(probe)
    assert len(live) == 1
    assert live[0].endswith("⚠️ DB active connections high: 5/50 (trigger: >3 for 0.5s+)")


def test_a_short_spike_of_active_connections_does_not_fire(
    metrics_server, run_check, sessions, monitor_url, thresholds_file
):
    limits = five_active_sessions(sessions, thresholds_file, sustained_s=60)

    probe = run_check(
        "checks.monitor", "--dsn", monitor_url, "--thresholds", limits, *FAST, "--json"
    )

    assert probe.returncode == 0
    assert summary(probe)["metrics"]["db_active_connections"]["max"] == 5


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_monitor_with_its_summary(metrics_server, sig):
    app = metrics_server()
    monitor = subprocess.Popen(
        module_argv(
            "checks.monitor",
            "--metrics-url",
            app.url,
            "--interval",
            "0.2",
            "--duration",
            "600",
            "--json",
        ),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = json.loads(monitor.stdout.readline())
        monitor.send_signal(sig)
        rest, errors = monitor.stdout.read(), monitor.stderr.read()
        monitor.wait(timeout=30)
    finally:
        monitor.kill()
        monitor.wait()

    assert first["type"] == "sample"
    last = json.loads(rest.splitlines()[-1])
    assert last["type"] == "summary"
    assert last["stopped_by"] == sig.name
    # Ctrl-C ends it as every CLI does (130) once the summary is out; SIGTERM is a stop.
    assert monitor.returncode == (130 if sig == signal.SIGINT else 0)
    assert errors == ""


def test_only_unreachable_sources_exit_2(run_check):
    url = f"http://127.0.0.1:{free_port()}/metrics"

    probe = run_check("checks.monitor", "--metrics-url", url, *FAST)

    assert probe.returncode == 2
    assert f"⚠️ cannot scrape {url}: [Errno 111] Connection refused" in probe.stdout
    assert probe.stderr == f"monitor failed: never read: {url}\n"
    assert f"❌ Never read during the run: {url}" in probe.stdout


def test_a_role_without_pg_monitor_is_refused_up_front(capacity_pg, run_check):
    dsn = capacity_pg.url(user="nogrant", password=NOGRANT_PASSWORD)

    probe = run_check("checks.monitor", "--dsn", dsn, *FAST)

    assert probe.returncode == 2
    assert probe.stdout == ""
    assert probe.stderr == (
        "monitor failed: role nogrant cannot see other sessions' state: "
        "GRANT pg_monitor TO nogrant (or run as a superuser)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--interval", "0", "--dsn", "postgresql://x@h/db"), "--interval: 0 must be above 0"),
        ((), "monitor failed: nothing to monitor: give --metrics-url, --dsn or --pgbouncer-dsn"),
    ],
)
def test_bad_invocations_are_one_line_errors(run_check, args, message):
    probe = run_check(
        "checks.monitor", *args, GOALGPT_BASE_URL="", DATABASE_URL="", GOALGPT_PGBOUNCER_DSN=""
    )

    assert probe.returncode == 2
    assert message in probe.stderr
    assert "Traceback" not in probe.stderr
