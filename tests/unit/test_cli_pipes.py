"""Every command line tool ends quietly when its reader goes away (`... | head`)."""

from __future__ import annotations

import os
import subprocess

import pytest

from app.cli import BROKEN_PIPE_EXIT
from tests.support.processes import run_module


def run_into_closed_pipe(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run `python -m argv` with stdout a pipe whose reader has already gone."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write now fails with EPIPE, like `| head` after its lines
    try:
        return run_module(
            *argv, stdout=write_end, stderr=subprocess.PIPE, env=os.environ | env, timeout=60
        )
    finally:
        os.close(write_end)


@pytest.mark.parametrize(
    "argv",
    [
        ("app.config",),
        ("app.config", "--json"),
        ("app.jobs", "stats", "--json"),
        ("app.migrations", "status"),
    ],
)
def test_a_closed_pipe_ends_the_command_quietly_without_a_traceback(
    argv, migrated_database_url, redis_url
):
    env = {
        "DATABASE_URL": migrated_database_url,
        "REDIS_URL": redis_url,
        "RQ_REDIS_URL": redis_url,
    }
    done = run_into_closed_pipe(*argv, env=env)
    assert done.stderr == ""
    assert done.returncode == BROKEN_PIPE_EXIT
