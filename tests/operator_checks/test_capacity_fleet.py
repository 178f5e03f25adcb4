"""`python -m checks.capacity` judges the fleet it runs for, and never contradicts itself."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess

import pytest

from app.cli import BROKEN_PIPE_EXIT, INTERRUPTED_EXIT
from tests.support.paths import REPO
from tests.support.processes import module_argv, run_module

# The default `make deploy`: 2 web processes (4 threads + 2 refreshes, pool 50), 2 workers.
DEPLOYED_FLEET = {
    "web": [{"host": "app-1", "processes": 2, "threads": 4, "refreshes": 2, "pool_max": 50}],
    "workers": [{"host": "worker-1", "processes": 2, "pool_max": 2}],
}


@pytest.fixture
def fleet_file(tmp_path) -> str:
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(DEPLOYED_FLEET))
    return str(path)


def test_a_current_pool_above_the_recommendation_is_its_own_verdict_and_exit_3(
    monitor_url, run_check, sessions
):
    sessions.open(2)
    text = run_check("checks.capacity", "--dsn", monitor_url, "--web-processes", "4")
    probe = run_check("checks.capacity", "--dsn", monitor_url, "--web-processes", "4", "--json")

    assert text.returncode == 3, text.stdout + text.stderr
    lines = text.stdout.splitlines()
    assert "Fleet: 4 web processes" in lines
    assert "  4 web processes: each counted at its whole pool max 50 (threads unknown)" in lines
    assert (
        "❌ Pool max 50 is above the recommended 19 for 4 web processes: with more, 4 web "
        "processes would hold more than the budget of 77 connections "
        "(max_connections 100 - 23 headroom = 77)"
    ) in lines
    assert "Suggested: DB_MAX_CONNECTIONS=19" in lines
    assert "safe to increase" not in text.stdout
    assert "✅" not in text.stdout
    assert probe.returncode == 3
    assert probe.data["verdict"] == "current_above_recommendation"
    assert probe.data["current_above_recommendation"] is True
    assert probe.data["safe"] is False
    assert (probe.data["recommended_pool_max"], probe.data["fleet_name"]) == (19, "4 web processes")
    assert probe.data["message"].startswith("pool max 50 is above the recommended 19 for 4 web")


def test_on_a_deployed_host_the_probe_judges_the_deployments_fleet_by_one_model(
    monitor_url, run_check, fleet_file, sessions
):
    sessions.open(2)
    env = {"GOALGPT_FLEET_FILE": fleet_file}
    probe = run_check("checks.capacity", "--dsn", monitor_url, "--json", **env)
    text = run_check("checks.capacity", "--dsn", monitor_url, **env)

    assert probe.returncode == 0, probe.stdout + probe.stderr
    data = probe.data
    assert data["verdict"] == "safe"
    assert data["fleet_name"] == "2 web processes + 2 workers"
    assert data["demand"] == 2 * 6 + 2 * 2  # the pool of 50 never fills past 4 + 2
    assert data["usable_web_pool"] == 6
    assert data["current_pool_max"] == 50  # DB_MAX_CONNECTIONS of the service env
    assert data["recommended_pool_max"] == 77  # one pool never above the budget
    assert any("above 6 cannot take effect" in w for w in data["warnings"])
    lines = text.stdout.splitlines()
    assert lines[1:6] == [
        "Current pool max: 50",
        "Fleet: 2 web processes + 2 workers",
        "  2 web processes on app-1: pool max 50, each holds at most 6 (4 threads + 2 refreshes)",
        "  2 workers on worker-1: job pool 2 each",
        "Fleet demand: 16 connections",
    ]
    assert "Recommended pool max: 77 per web process (fleet demand 16 <= budget 77)" in lines


@pytest.mark.parametrize(("pool_max", "code"), [(77, 0), (500, 3)])
def test_a_requested_pool_above_the_recommendation_is_refused_whatever_the_threads_use(
    monitor_url, run_check, fleet_file, sessions, pool_max, code
):
    # The deployed fleet holds 16 connections with any pool (threads + refreshes), yet
    # a pool of 500 is not recommended: the threads can change later.
    sessions.open(2)
    probe = run_check(
        "checks.capacity",
        "--dsn",
        monitor_url,
        "--json",
        "--pool-max",
        str(pool_max),
        GOALGPT_FLEET_FILE=fleet_file,
    )

    assert probe.returncode == code, probe.stdout + probe.stderr
    assert (probe.data["recommended_pool_max"], probe.data["demand"]) == (77, 16)
    assert bool(probe.data["message"]) is bool(code)


def test_an_explicit_web_process_count_wins_over_the_deployment(
    monitor_url, run_check, fleet_file, sessions
):
    sessions.open(2)
    probe = run_check(
        "checks.capacity",
        "--dsn",
        monitor_url,
        "--web-processes",
        "1",
        "--json",
        GOALGPT_FLEET_FILE=fleet_file,
    )

    assert probe.returncode == 0
    assert probe.data["fleet_name"] == "1 web process"
    assert probe.data["recommended_pool_max"] == 77


def test_an_unusable_fleet_file_exits_2_with_one_line(monitor_url, run_check, tmp_path):
    bad = tmp_path / "fleet.json"
    bad.write_text('{"web": [{"processes": 2}]}')
    probe = run_check("checks.capacity", "--dsn", monitor_url, GOALGPT_FLEET_FILE=str(bad))

    assert probe.returncode == 2
    assert probe.stderr.count("\n") == 1
    assert "is unusable: pool_max must be" in probe.stderr


@pytest.mark.parametrize("module", ["checks.capacity", "checks.monitor"])
def test_no_database_given_exits_2_in_every_tool(run_check, module):
    probe = run_check(module, GOALGPT_MONITOR_DSN="", DATABASE_URL="", GOALGPT_BASE_URL="")

    assert probe.returncode == 2
    assert "no database given" in probe.stderr or "nothing to monitor" in probe.stderr
    assert "Traceback" not in probe.stderr


@pytest.mark.parametrize(
    "argv",
    [("checks.capacity",), ("checks.capacity", "--json"), ("checks.monitor", "--duration", "0.1")],
)
def test_a_closed_pipe_ends_every_checks_cli_with_141_and_no_traceback(monitor_url, argv):
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = run_module(
            *argv,
            "--dsn",
            monitor_url,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=os.environ | {"DB_MAX_CONNECTIONS": "50"},
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == BROKEN_PIPE_EXIT, done.stderr
    assert "Traceback" not in done.stderr


PROBE_USER = "ctrl-c-probe"


def accept_the_probe(listener: socket.socket) -> socket.socket:
    """The connection whose startup message names PROBE_USER: under a loaded `make test`
    another test's client may reach a port it once used, which is now ours."""
    while True:
        conn, _ = listener.accept()
        conn.settimeout(10)
        try:
            if PROBE_USER.encode() in conn.recv(4096):
                return conn
        except TimeoutError:
            pass
        conn.close()


def test_ctrl_c_ends_the_capacity_probe_with_130_and_one_line():
    # A server that accepts and never answers: the probe waits for the server's reply.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        # No TLS or GSS negotiation first: the startup message, with the user, comes first.
        dsn = f"postgresql://{PROBE_USER}@127.0.0.1:{port}/postgres?sslmode=disable&gssencmode=disable"
        probe = subprocess.Popen(
            module_argv("checks.capacity", "--dsn", dsn),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            with accept_the_probe(silent):  # the probe waits for the server now
                probe.send_signal(signal.SIGINT)
                _out, err = probe.communicate(timeout=30)
        finally:
            probe.kill()
            probe.wait()
    assert probe.returncode == INTERRUPTED_EXIT
    assert err == "error: interrupted\n"
