"""The rq worker command line, defined once: the role runs it, docs/jobs.md shows it.

The service runs it behind `python -m app.jobs.wait_for_queue` (`service_argv`): a
worker started while the queue Redis is down waits for it instead of exiting.

`python app/jobs/worker_command.py` prints it (the role reads it that way on the
controller, without the app's dependencies: this module and app.infra.names
import nothing but the standard library).

The flags bound how long a job abandoned by a killed worker stays "started":
its heartbeat expires JOB_MONITORING_INTERVAL_S + WORKER_HEARTBEAT_GRACE_S
(app/config/schema.py, 15 s) after the kill, and an idle worker runs RQ's maintenance
(which fails or retries such jobs) every max(MAINTENANCE_INTERVAL_S, WORKER_TTL_S - 15)
seconds: at most 5 + 15 + 20 = 40 s (docs/jobs.md, "Failure behaviour").
WORKER_TTL_S also bounds how long a worker stays unregistered after the queue
Redis lost its keys: it heartbeats (and registers again) every WORKER_TTL_S - 15 s.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

if not __package__:  # run as a file: the repository is not on the path yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.infra.names import QUEUES

WORKER_CLASS = "app.jobs.worker.JobWorker"
WAIT_FOR_QUEUE = ("python", "-m", "app.jobs.wait_for_queue")
WORKER_TTL_S = 35
JOB_MONITORING_INTERVAL_S = 5
MAINTENANCE_INTERVAL_S = 15


def argv(rq: str = "rq") -> list[str]:
    """The worker's command line; `rq` is the path of the rq program to run."""
    return [
        rq,
        "worker",
        "--worker-class",
        WORKER_CLASS,
        # The scheduler runs the delayed retries of jobs that found the database down.
        "--with-scheduler",
        "--worker-ttl",
        str(WORKER_TTL_S),
        "--job-monitoring-interval",
        str(JOB_MONITORING_INTERVAL_S),
        "--maintenance-interval",
        str(MAINTENANCE_INTERVAL_S),
        *QUEUES,
    ]


def service_argv() -> list[str]:
    """What the service runs from the release's venv/bin: the worker, once the queue Redis
    answers."""
    return [*WAIT_FOR_QUEUE, *argv()]


if __name__ == "__main__":
    print(shlex.join(service_argv()))
