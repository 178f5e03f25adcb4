"""Jobs for the queue tests: run by real rq workers, they leave a trace in the queue Redis."""

from __future__ import annotations

import time

from rq import get_current_job

RAN = "goalgpt:test:ran"


def record(number: int) -> int:
    """Add `number` to the set of jobs that ran."""
    get_current_job().connection.sadd(RAN, number)
    return number


def sleep(seconds: float) -> None:
    time.sleep(seconds)
