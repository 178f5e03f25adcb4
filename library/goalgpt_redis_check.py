#!/usr/bin/python
"""Ansible module: wait until a Redis answers with its password, and report its settings."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: goalgpt_redis_check
short_description: Wait until a Redis answers (AUTH from a password file) and read its settings
description:
  - Connects to a Redis, authenticates with the password read from a file on the
    managed host (so the password never passes through Ansible's arguments, a
    process command line or an environment), and reads maxmemory-policy,
    maxmemory and appendonly.
  - Retries until the server answers or I(timeout) seconds have passed
    (a server that is starting or loading its AOF is waited for).
  - Read-only; never reports a change and runs in check mode too.
  - Speaks the Redis protocol itself, so the host needs no Redis client library.
options:
  host:
    description: Address the Redis listens on.
    type: str
    required: true
  port:
    description: Port.
    type: int
    required: true
  password_file:
    description: File holding the password (its first line). Omit for no AUTH.
    type: path
  timeout:
    description: Seconds to wait for the server to answer.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Wait until the queue Redis answers
  goalgpt_redis_check:
    host: 10.213.7.16
    port: 6380
    password_file: /etc/goalgpt/redis-queue-password
  register: queue_redis

- name: The queue Redis never evicts
  ansible.builtin.assert:
    that: queue_redis.maxmemory_policy == 'noeviction'
"""

RETURN = r"""
maxmemory_policy:
  description: CONFIG GET maxmemory-policy.
  type: str
  returned: success
maxmemory:
  description: CONFIG GET maxmemory, in bytes (0 is no limit).
  type: int
  returned: success
appendonly:
  description: CONFIG GET appendonly (yes or no).
  type: str
  returned: success
"""

import socket  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

RETRY_EVERY_S = 0.5


class RedisReplyError(Exception):
    """The server answered with an error (e.g. WRONGPASS, LOADING)."""


def encode(*args: str) -> bytes:
    """A command in the Redis protocol (an array of bulk strings)."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def read_reply(stream):
    """One reply: str, int, None, list, or RedisReplyError for an error reply."""
    line = stream.readline()
    if not line:
        raise ConnectionError("the server closed the connection")
    kind, rest = line[:1], line[1:].rstrip(b"\r\n")
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisReplyError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        return stream.read(size + 2)[:-2].decode()
    if kind == b"*":
        return [read_reply(stream) for _ in range(int(rest))]
    raise ConnectionError(f"unexpected reply {line[:40]!r}")


SETTINGS = ("maxmemory-policy", "maxmemory", "appendonly")


def ask(host: str, port: int, password: str | None) -> dict:
    """AUTH (when a password is given), then CONFIG GET of each of SETTINGS."""
    commands = [("AUTH", password)] if password is not None else []
    commands += [("CONFIG", "GET", name) for name in SETTINGS]
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(b"".join(encode(*command) for command in commands))
        stream = sock.makefile("rb")
        replies = [read_reply(stream) for _ in commands]
    values = dict(reply for reply in replies if isinstance(reply, list) and len(reply) == 2)
    return {
        "maxmemory_policy": values["maxmemory-policy"],
        "maxmemory": int(values["maxmemory"]),
        "appendonly": values["appendonly"],
    }


def read_password(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.readline().strip()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "required": True},
            # A path, not the secret: the file is read on the host.
            "password_file": {"type": "path", "no_log": False},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    params = module.params
    try:
        password = read_password(params["password_file"]) if params["password_file"] else None
    except OSError as exc:
        module.fail_json(msg=f"cannot read {params['password_file']}: {exc.strerror}")
    deadline = time.monotonic() + params["timeout"]
    while True:
        try:
            found = ask(params["host"], params["port"], password)
            module.exit_json(changed=False, **found)
        except RedisReplyError as exc:
            error = str(exc)
            if not error.startswith("LOADING"):
                where = f"{params['host']}:{params['port']}"
                module.fail_json(msg=f"Redis at {where} answered: {error}")
        except OSError as exc:
            error = str(exc)
        if time.monotonic() >= deadline:
            module.fail_json(
                msg=f"no answer from Redis at {params['host']}:{params['port']} "
                f"within {params['timeout']}s: {error}"
            )
        time.sleep(RETRY_EVERY_S)


if __name__ == "__main__":
    main()
