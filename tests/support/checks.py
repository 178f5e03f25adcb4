"""Running the operator checks as an operator would, and their inputs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import yaml

from checks.alert_log import STAMP as ALERT_LOG_STAMP
from checks.thresholds import DEFAULT_PATH
from tests.support.processes import run_module

# Passwords of the probe tests' roles: `monitor` (pg_monitor) and `nogrant` (no grant).
MONITOR_PASSWORD = "monitor-secret"
NOGRANT_PASSWORD = "nogrant-secret"


@dataclass
class Probe:
    returncode: int
    stdout: str
    stderr: str

    @property
    def data(self) -> dict:
        return json.loads(self.stdout)


def write_thresholds(directory: Path, **changes: dict) -> str:
    """The shipped thresholds with some values changed, written to `directory`; its path."""
    data = yaml.safe_load(DEFAULT_PATH.read_text())
    for section, values in changes.items():
        _merge(data[section], values)
    path = directory / "thresholds.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _merge(target: dict, changes: dict) -> None:
    for key, value in changes.items():
        if isinstance(value, dict):
            _merge(target[key], value)
        else:
            target[key] = value


def history_report(prometheus_url: str, *options: str) -> dict:
    """`python -m checks.monitor --prometheus-url URL --since 10m --json` (and `options`):
    the summary it ends with. Exit 0 or 1 (a trigger fired) are both a report."""
    argv = ["--prometheus-url", prometheus_url, "--since", "10m", *options, "--json"]
    done = run_module("checks.monitor", *argv, timeout=120)
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def assert_all_four_metrics_sampled(summary: dict) -> None:
    """The report read samples of each of the monitor's four metrics."""
    sampled = {metric: s["samples"] > 0 for metric, s in summary["metrics"].items()}
    assert sampled == {
        "max_clients_errors": True,
        "cache_hit_rate": True,
        "db_active_connections": True,
        "pool_waiting": True,
    }, summary["metrics"]


def utc_stamp() -> str:
    """Now as the alert log stamps what it receives."""
    return datetime.now(UTC).strftime(ALERT_LOG_STAMP)


def first_firing(log_lines: str, name: str, since: str = "") -> dict | None:
    """The first `name` alert the alert log received firing at or after `since`."""
    for line in log_lines.splitlines():
        entry = json.loads(line)
        firing = entry["alertname"] == name and entry["status"] == "firing"
        if firing and entry["received"] >= since:
            return entry
    return None


def logged_value(entry: dict) -> float:
    """The value an alert fired with, as Prometheus rendered `{{ $value }}` into its summary
    ("Pool waiting queue: 7 requests"): the very sample the rule compared, where a query
    stepping over the history afterwards can miss a sample that a loaded scrape jittered."""
    summary = entry["annotations"]["summary"]
    number = re.search(r": (-?[0-9.e+]+)", summary)
    assert number, f"no value in the alert's summary: {summary!r}"
    return float(number.group(1))
