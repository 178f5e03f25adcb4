"""The one way to build a Redis client: timeouts stated, no retries where Redis is optional.

A URL carries everything about its connection, the password excepted: a deployed
one looks like `rediss://10.0.0.41:6379/0?ssl_ca_certs=/etc/goalgpt/tls/ca.crt&
password_file=/etc/goalgpt/secrets/redis-cache.password`. `rediss://` verifies the
server's certificate (and its name) against `ssl_ca_certs`; `password_file` is read
at every new connection (its first line), so a rotated password needs no restart and
never sits in the environment. RQ's own commands (`rq worker`, `rq cron`) build their
client with `FleetRedis` (RQ_CONNECTION_CLASS in the env file).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.credentials import CredentialProvider
from redis.retry import Retry

PASSWORD_FILE = "password_file"


class PasswordFile(CredentialProvider):
    """The password in the first line of a file, read for each new connection."""

    def __init__(self, path: str, username: str | None = None) -> None:
        self.path = path
        self.username = username

    def get_credentials(self) -> tuple[str] | tuple[str, str]:
        with open(self.path, encoding="utf-8") as handle:
            password = handle.readline().strip()
        return (self.username, password) if self.username else (password,)


def split_password_file(url: str) -> tuple[str, dict[str, Any]]:
    """The URL without `password_file`, and the client options it stands for."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    files = [value for name, value in query if name == PASSWORD_FILE]
    if not files:
        return url, {}
    rest = urlencode([(name, value) for name, value in query if name != PASSWORD_FILE])
    provider = PasswordFile(files[-1], username=parts.username or None)
    # redis-py refuses a username beside a credential provider: the provider gives it.
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=netloc, query=rest)), {"credential_provider": provider}


class FleetRedis(redis.Redis):
    """redis.Redis whose from_url understands `password_file` (for RQ's commands)."""

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> FleetRedis:  # type: ignore[override]
        plain, options = split_password_file(url)
        return super().from_url(plain, **options, **kwargs)


def client(
    url: str, *, connect_timeout_s: float, timeout_s: float | None = None, fail_fast: bool = False
) -> redis.Redis:
    """A client of `url`; `timeout_s` bounds each command (None: wait for the answer).

    `fail_fast` turns redis-py's retries off: for callers that go on without Redis
    (the web's cache), one failed command must cost one timeout, not several.
    """
    options: dict[str, object] = {
        "socket_connect_timeout": connect_timeout_s,
        "socket_timeout": timeout_s,
    }
    if fail_fast:
        options["retry"] = Retry(NoBackoff(), 0)
    return FleetRedis.from_url(url, **options)
