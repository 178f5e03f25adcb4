"""The fleet's one scheduler: `python -m app.jobs.cron` (RQ_REDIS_URL names the Redis).

RQ's CronScheduler with every scheduled job (app/jobs/queues.py) at the cron
string and timeout of the central config (MATCH_MINUTE_CRON, ..._TIMEOUT_MS).
It outlives any outage of the queue Redis: started while Redis is down, it waits
for it; losing Redis while running, it waits and registers again, as a new
scheduler, without exiting. A process manager never sees it exit quickly, so it
never gives up on it (systemd's start limit, supervisord's FATAL).

It heartbeats every HEARTBEAT_S (RQ's own sleeps up to a minute between jobs), so
`goalgpt_cron_last_heartbeat_timestamp_seconds` tells within seconds that no
scheduler runs. A bad setting stops it with one line naming it (exit 2), and so
does a queue Redis that may evict jobs (exit 1). RQ's scheduler takes no lock:
run exactly one in the fleet.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import NoReturn

import redis
from rq import cron_scheduler_registry
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from app import cli, config
from app.infra import queue_redis
from app.infra.errors import first_line
from app.infra.fleet_registry import HEARTBEAT_S
from app.jobs.queues import FAILURE_TTL_S, RESULT_TTL_S, job_specs

WHO = "rq cron"
# Bounds each Redis command, so a Redis that stops answering is noticed, not waited on.
COMMAND_TIMEOUT_S = 10.0


class Scheduler(CronScheduler):
    """CronScheduler that wakes at least every HEARTBEAT_S to heartbeat."""

    def calculate_sleep_interval(self) -> float:
        return min(super().calculate_sleep_interval(), HEARTBEAT_S)


def scheduler(connection: redis.Redis, settings: config.Settings) -> Scheduler:
    """A new scheduler (a name of its own) with every job registered from `settings`."""
    made = Scheduler(connection=connection)
    for spec in job_specs(settings):
        made.register(
            spec.func,
            queue_name=spec.queue,
            cron=spec.cron,
            job_timeout=spec.timeout_s,
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            name=spec.name,
        )
    return made


def _stop(signum: int, frame: object) -> NoReturn:
    raise StopRequested()


def run(settings: config.Settings, connection: redis.Redis) -> int:
    """Schedule until SIGTERM or SIGINT (0), waiting out every outage of the queue Redis."""
    # The scheduler installs the same handlers while it runs; these cover the waits.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    previous: Scheduler | None = None
    try:
        while True:
            queue_redis.wait_until_usable(connection, WHO, settings.RQ_REDIS_URL)
            try:
                _forget(connection, previous)
                previous = scheduler(connection, settings)
                previous.start()
                return 0
            except redis.RedisError as exc:
                lost = f"{WHO}: lost the queue Redis: {first_line(exc)}"
                print(lost, file=sys.stderr, flush=True)
    except StopRequested:
        return 0


def _forget(connection: redis.Redis, previous: Scheduler | None) -> None:
    """Drop this process' registration from before the outage (a Redis that kept its
    data still lists it, and two schedulers would look alive for a while) and those
    that stopped heartbeating long ago."""
    if previous is not None:
        connection.zrem(cron_scheduler_registry.get_registry_key(), previous.name)
        connection.delete(previous.key)
    cron_scheduler_registry.cleanup(connection)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.jobs.cron",
        description="Run the fleet's one RQ cron scheduler until SIGTERM, waiting out queue "
        "Redis outages. Exit 0 stopped, 1 the queue Redis may evict jobs, 2 a bad setting.",
    )
    parser.add_argument(
        "--logging-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.logging_level, format="%(asctime)s %(levelname)s %(message)s")
    settings = config.load_or_exit()
    connection = queue_redis.connect(settings, timeout_s=COMMAND_TIMEOUT_S)
    return run(settings, connection)


if __name__ == "__main__":
    cli.run(main)
