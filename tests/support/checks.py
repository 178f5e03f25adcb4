"""Running the operator checks as an operator would, and their inputs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from checks.thresholds import DEFAULT_PATH

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
