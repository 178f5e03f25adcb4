"""Connect to PostgreSQL with each password of libpq's password file in turn.

A deployed DATABASE_URL names its password file (`passfile=`, mode 0600): libpq
reads it at every connect, so no password sits in a URL, an environment or a
command line. libpq uses only the first line that matches the connection. During
a password rotation (playbooks/rotate_secrets.yml) the file holds the old password
and then the new one while the server switches from one to the other: `connect`
tries the later lines when the server refuses the first, so a new connection
succeeds on either side of the switch and no request fails. Through PgBouncer the
refusal reads "SASL authentication failed" (PgBouncer checks the password against
its copy of the server's verifier, which the rotation switches right after the
server's).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

T = TypeVar("T")
# PostgreSQL's refusal of a password, and PgBouncer's.
REFUSED = ("password authentication failed", "SASL authentication failed")
_FIELD = re.compile(r"((?:\\.|[^:\\])*)(?::|$)")


def is_password_refused(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError) and any(r in str(exc) for r in REFUSED)


def connect(opener: Callable[..., T], conninfo: str, **kwargs: Any) -> T:
    """opener(conninfo, **kwargs), then with each later password of the password file
    while the server refuses the password; the first refusal if none is accepted."""
    try:
        return opener(conninfo, **kwargs)
    except psycopg.OperationalError as exc:
        if not is_password_refused(exc) or "password" in kwargs:
            raise
        refused = exc
    for password in later_passwords(conninfo, kwargs):
        try:
            return opener(conninfo, **kwargs, password=password)
        except psycopg.OperationalError as exc:
            if not is_password_refused(exc):
                raise
    raise refused


def later_passwords(conninfo: str, kwargs: dict[str, Any]) -> list[str]:
    """The passwords of the file's matching lines after the first (the one libpq used)."""
    params = {k: str(v) for k, v in conninfo_to_dict(conninfo, **kwargs).items() if v is not None}
    path = params.get("passfile") or os.environ.get("PGPASSFILE")
    if not path or "password" in params:
        return []
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    wanted = [
        params.get("host", "localhost"),
        params.get("port", "5432"),
        params.get("dbname", params.get("user", "")),
        params.get("user", ""),
    ]
    found = []
    for line in lines:
        fields = _fields(line)
        if len(fields) == 5 and all(f in ("*", w) for f, w in zip(fields[:4], wanted, strict=True)):
            found.append(fields[4])
    return found[1:]


def _fields(line: str) -> list[str]:
    if not line.strip() or line.lstrip().startswith("#"):
        return []
    parts = [m.group(1) for m in _FIELD.finditer(line)][:5]
    return [re.sub(r"\\(.)", r"\1", part) for part in parts]
