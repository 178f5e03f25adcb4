#!/usr/bin/python
"""Ansible module: wait until a Redis answers, report its settings, and bring its
passwords and certificate in line without a restart."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: goalgpt_redis_check
short_description: Wait until a Redis answers (TLS, AUTH from a password file), read its settings
description:
  - Connects to a Redis, over TLS verified against I(tls_ca_file) when given,
    authenticates with a password read from a file on the managed host (so no
    password passes through Ansible's arguments, a command line or an environment;
    each line of the file is tried in turn), and reads maxmemory-policy, maxmemory
    and appendonly.
  - Retries until the server answers or I(timeout) seconds have passed
    (a server that is starting or loading its AOF is waited for).
  - With I(sync_passwords), makes the passwords the running server accepts for its
    default user exactly the file's lines (ACL SETUSER, by SHA-256 digest), so a
    rotation needs no restart; with I(reload_tls), has the server load its
    certificate files again (CONFIG SET tls-cert-file). Reports a change only then;
    supports check mode.
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
    description: File holding the passwords, one per line. Omit for no AUTH.
    type: path
  tls_ca_file:
    description: CA certificate that verifies the server's certificate and name; omit for plain TCP.
    type: path
  sync_passwords:
    description: Make the default user's passwords those of I(password_file).
    type: bool
    default: false
  reload_tls:
    description: Have the server read its certificate and key files again.
    type: bool
    default: false
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
    tls_ca_file: /etc/goalgpt/tls/ca.crt
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

import hashlib  # noqa: E402 (Ansible modules open with their documentation)
import socket  # noqa: E402
import ssl  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

RETRY_EVERY_S = 0.5
SETTINGS = ("maxmemory-policy", "maxmemory", "appendonly")


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


class Session:
    """One connection: command() sends a command and reads its reply."""

    def __init__(self, host: str, port: int, tls_ca_file: str | None) -> None:
        sock = socket.create_connection((host, port), timeout=5)
        if tls_ca_file:
            context = ssl.create_default_context(cafile=tls_ca_file)
            sock = context.wrap_socket(sock, server_hostname=host)
        self.sock = sock
        self.stream = sock.makefile("rb")

    def command(self, *args: str):
        self.sock.sendall(encode(*args))
        return read_reply(self.stream)

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def login(host: str, port: int, tls_ca_file: str | None, passwords: list[str]) -> Session:
    """A session authenticated with the first of `passwords` the server accepts."""
    refused = None
    for password in passwords or [None]:
        session = Session(host, port, tls_ca_file)
        try:
            if password is not None:
                session.command("AUTH", password)
            return session
        except RedisReplyError as exc:
            session.close()
            if not str(exc).startswith(("WRONGPASS", "ERR invalid password")):
                raise
            refused = exc
    raise refused


def settings(session: Session) -> dict:
    values = {}
    for name in SETTINGS:
        reply = session.command("CONFIG", "GET", name)
        values[reply[0]] = reply[1]
    return {
        "maxmemory_policy": values["maxmemory-policy"],
        "maxmemory": int(values["maxmemory"]),
        "appendonly": values["appendonly"],
    }


def digests(passwords: list[str]) -> list[str]:
    return [hashlib.sha256(p.encode()).hexdigest() for p in passwords]


def sync_passwords(session: Session, passwords: list[str], check_mode: bool) -> bool:
    """Make the default user's passwords exactly `passwords`; True if they were not."""
    reply = session.command("ACL", "GETUSER", "default")
    found = dict(zip(reply[::2], reply[1::2], strict=True))
    wanted = digests(passwords)
    if sorted(found.get("passwords") or []) == sorted(wanted):
        return False
    if not check_mode:
        session.command("ACL", "SETUSER", "default", "resetpass", *(f"#{d}" for d in wanted))
    return True


def reload_tls(session: Session, check_mode: bool) -> bool:
    if check_mode:
        return True
    path = session.command("CONFIG", "GET", "tls-cert-file")[1]
    session.command("CONFIG", "SET", "tls-cert-file", path)
    return True


def read_passwords(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return [line.strip() for line in handle if line.strip()]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "host": {"type": "str", "required": True},
            "port": {"type": "int", "required": True},
            # Paths, not secrets: the files are read on the host.
            "password_file": {"type": "path", "no_log": False},
            "tls_ca_file": {"type": "path"},
            "sync_passwords": {"type": "bool", "default": False},
            "reload_tls": {"type": "bool", "default": False},
            "timeout": {"type": "int", "default": 30},
        },
        supports_check_mode=True,
    )
    params = module.params
    where = f"{params['host']}:{params['port']}"
    try:
        passwords = read_passwords(params["password_file"]) if params["password_file"] else []
    except OSError as exc:
        module.fail_json(msg=f"cannot read {params['password_file']}: {exc.strerror}")
    deadline = time.monotonic() + params["timeout"]
    while True:
        try:
            session = login(params["host"], params["port"], params["tls_ca_file"], passwords)
            try:
                found = settings(session)
                changed = False
                if params["sync_passwords"]:
                    changed |= sync_passwords(session, passwords, module.check_mode)
                if params["reload_tls"]:
                    changed |= reload_tls(session, module.check_mode)
            finally:
                session.close()
            module.exit_json(changed=changed, **found)
        except RedisReplyError as exc:
            error = str(exc)
            if not error.startswith("LOADING"):
                module.fail_json(msg=f"Redis at {where} answered: {error}")
        except ssl.SSLCertVerificationError as exc:
            module.fail_json(msg=f"Redis at {where}: its certificate does not verify: {exc}")
        except OSError as exc:
            error = str(exc)
        if time.monotonic() >= deadline:
            module.fail_json(
                msg=f"no answer from Redis at {where} within {params['timeout']}s: {error}"
            )
        time.sleep(RETRY_EVERY_S)


if __name__ == "__main__":
    main()
