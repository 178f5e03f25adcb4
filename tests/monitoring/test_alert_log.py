"""`python -m checks.alert_log`: Alertmanager's default receiver, as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.processes import module_argv, run_module
from tests.support.servers import free_port

PAYLOAD = {
    "receiver": "goalgpt",
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "GoalGPTPoolWaiting", "severity": "warning"},
            "annotations": {"action": "Check for connection leaks"},
            "startsAt": "2026-01-01T00:00:00Z",
        },
        {
            "status": "resolved",
            "labels": {"alertname": "GoalGPTCacheHitRateLow"},
            "annotations": {},
            "startsAt": "2026-01-01T00:00:00Z",
        },
    ],
}


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen]]:
    log = tmp_path / "alerts.jsonl"
    port = free_port()
    process = subprocess.Popen(
        module_argv("checks.alert_log", "--listen", f"127.0.0.1:{port}", "--log", log),
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/-/healthy", timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline and process.poll() is None, "did not start"
            time.sleep(0.1)
    yield url, log, process
    if process.poll() is None:
        process.kill()
        process.wait()


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(f"{url}/alerts", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_each_alert_becomes_one_json_line(receiver):
    url, log, _ = receiver

    assert post(url, json.dumps(PAYLOAD).encode()) == 200

    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["alertname"], e["status"]) for e in lines] == [
        ("GoalGPTPoolWaiting", "firing"),
        ("GoalGPTCacheHitRateLow", "resolved"),
    ]
    assert lines[0]["annotations"]["action"] == "Check for connection leaks"
    assert lines[0]["receiver"] == "goalgpt"


def test_a_body_that_is_not_a_payload_is_refused_and_not_logged(receiver):
    url, log, _ = receiver

    assert post(url, b"not json") == 400
    assert post(url, b"[1, 2]") == 400
    assert log.read_text() == ""


def test_sigterm_stops_it_with_exit_0(receiver):
    _, _, process = receiver

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=10) == 0


def test_an_unwritable_log_is_one_line_and_exit_2(tmp_path):
    done = run_module(
        "checks.alert_log",
        "--listen",
        f"127.0.0.1:{free_port()}",
        "--log",
        str(tmp_path / "missing" / "alerts.jsonl"),
        timeout=30,
    )

    assert done.returncode == 2
    assert done.stderr.startswith("alert log not started: ")
    assert "Traceback" not in done.stderr
