"""`python -m checks.dependencies`: does every dependency answer, as the service needs it?

The deploy's and raise_pool.yml's gate. /readyz stays 200 while a Redis is down
(the host still serves), so the gates ask each dependency themselves, from the
host, with the service's own environment (bin/goalgpt-env):

- postgres (DATABASE_URL): connects and runs SELECT 1;
- redis, the cache (REDIS_URL): answers PING (with its password);
- queue_redis (RQ_REDIS_URL): answers, and its maxmemory-policy is noeviction.

One line per dependency (`--json`: one object). Exit 0 all answer, 1 one or more
do not (each named), 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

import redis

from app import cli, config
from app.config import mask_url
from app.infra import queue_redis
from app.infra.errors import first_line
from app.infra.redis_client import client as redis_client
from checks.dbconnect import CheckError, NoFreeSlots, connect

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2
TIMEOUT_S = 5.0
OK = "ok"


def check_postgres(url: str) -> str:
    try:
        with connect(url) as conn:
            conn.execute("SELECT 1")
    except NoFreeSlots as exc:
        return f"refused for lack of connection slots: {exc}"
    except CheckError as exc:
        return str(exc)
    return OK


def check_redis(url: str) -> str:
    try:
        with _client(url) as client:
            client.ping()
    except redis.RedisError as exc:
        return f"cannot reach {mask_url(url)}: {first_line(exc)}"
    return OK


def check_queue_redis(url: str) -> str:
    try:
        with _client(url) as client:
            queue_redis.check(client)
    except queue_redis.UnsafeQueueRedis as exc:
        return str(exc)
    except redis.RedisError as exc:
        return f"cannot reach {mask_url(url)}: {first_line(exc)}"
    return OK


def _client(url: str) -> redis.Redis:
    return redis_client(url, connect_timeout_s=TIMEOUT_S, timeout_s=TIMEOUT_S)


def check_all(settings: config.Settings) -> dict[str, str]:
    """Each dependency's state: "ok" or one line saying what is wrong."""
    checks: dict[str, Callable[[], str]] = {
        "postgres": lambda: check_postgres(settings.DATABASE_URL),
        "redis": lambda: check_redis(settings.REDIS_URL),
        "queue_redis": lambda: check_queue_redis(settings.RQ_REDIS_URL),
    }
    return {name: check() for name, check in checks.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m checks.dependencies",
        description="Check that PostgreSQL (DATABASE_URL), the cache Redis (REDIS_URL) and "
        "the queue Redis (RQ_REDIS_URL, which must not evict) answer. "
        "Exit 0 all answer, 1 one or more do not, 2 invalid configuration.",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    try:
        settings = config.load()
    except config.ConfigError as exc:
        print(f"dependency check failed: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    states = check_all(settings)
    failing = [name for name, state in states.items() if state != OK]
    if args.json:
        print(json.dumps({"ok": not failing, "failing": failing, "checks": states}))
    else:
        for name, state in states.items():
            print(f"{name}: {state}")
    if failing:
        print(f"error: not every dependency answers: {', '.join(failing)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    cli.run(main)
