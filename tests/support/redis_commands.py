"""The commands a piece of code sent to a test's Redis, with their arguments, read from
the server's own slow log (every command logged): what a test asserts the code asked of
Redis (an expiry, a lock's PX) instead of a time-dependent reading such as PTTL."""

from __future__ import annotations

from collections.abc import Callable

import redis

_OWN = {"CLIENT", "CONFIG", "SLOWLOG", "HELLO"}


def redis_commands(url: str, action: Callable[[], object]) -> list[list[str]]:
    """Run `action`; every command it sent, oldest first, as [NAME, arg, ...]."""
    client = redis.Redis.from_url(url)
    before = client.config_get("slowlog-*")
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 10_000)
    client.slowlog_reset()
    try:
        action()
        entries = _raw(client, "SLOWLOG", "GET", "-1")
    finally:
        for name, value in before.items():
            client.config_set(name, value)
    commands = []
    for entry in reversed(entries):
        argv = [arg.decode(errors="replace") for arg in entry[3]]
        argv[0] = argv[0].upper()
        if argv[0] not in _OWN:
            commands.append(argv)
    return commands


def _raw(client: redis.Redis, *argv: str) -> list:
    """The reply as Redis sent it (redis-py's parser joins a slow-log entry's arguments)."""
    conn = client.connection_pool.get_connection()
    try:
        conn.send_command(*argv)
        return conn.read_response()
    finally:
        client.connection_pool.release(conn)
