"""Operator commands for the jobs: `python -m app.jobs run|enqueue|stats`.

Exit codes: 0 done, 1 the job failed (e.g. the database is unreachable),
2 bad input or configuration. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

import psycopg
import redis

from app import cli, config
from app.infra import job_stats, queue_redis
from app.infra.errors import DatabaseUnavailable, first_line
from app.infra.queue_redis import UnsafeQueueRedis
from app.jobs.queues import SCHEDULED, enqueue_job, entry_point

JOBS = [job.name for job in SCHEDULED]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app.jobs",
        description="Run, enqueue or inspect the scheduled jobs. Reads DATABASE_URL, "
        "RQ_REDIS_URL (the queue Redis) and the job settings from the environment. "
        "Exit 0 done, 1 job failed or unsafe queue Redis, 2 bad input.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one job now in this process and print its summary")
    run.add_argument("job", choices=JOBS)
    enqueue = commands.add_parser("enqueue", help="queue one run of a job for the RQ workers")
    enqueue.add_argument("job", choices=JOBS)
    commands.add_parser("stats", help="print the job counters kept in Redis")
    for sub in commands.choices.values():
        sub.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True, default=str))
        return
    for key, value in data.items():
        print(f"{key}: {value}")


def _execute(args: argparse.Namespace, settings: config.Settings) -> Any:
    client = queue_redis.connect(settings)
    if args.command == "run":
        return entry_point(args.job)(settings)
    if args.command == "enqueue":
        job = enqueue_job(client, args.job, settings)
        return {"job": args.job, "id": job.id, "queue": job.origin, "timeout_s": job.timeout}
    return job_stats.read(client)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    # The pool logs each failed connection attempt over several lines; the error line says it.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    if args.command != "enqueue" and not os.environ.get("DATABASE_URL"):
        # config's default URL serves tests; an operator's job names its database.
        print("error: no database given: set DATABASE_URL", file=sys.stderr)
        return 2
    settings = config.load_or_exit()
    try:
        result = _execute(args, settings)
    except (DatabaseUnavailable, UnsafeQueueRedis, psycopg.Error, redis.RedisError) as exc:
        print(f"error: {args.command} failed: {first_line(exc)}", file=sys.stderr)
        return 1
    _print(result, args.json)
    return 0


if __name__ == "__main__":
    cli.run(main)
