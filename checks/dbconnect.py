"""Connect to PostgreSQL for a check, and say in one line why it failed.

A refusal for lack of connection slots (SQLSTATE 53300: "sorry, too many
clients already" or "remaining connection slots are reserved ...") is a finding
about the database, not a failure of the check, so it gets its own exception.
While connecting, libpq gives psycopg no SQLSTATE, so the server's message
text is what identifies it.
"""

from __future__ import annotations

import psycopg

from app.config import mask_url

APPLICATION_NAME = "goalgpt-checks"
CONNECT_TIMEOUT_S = 5
NO_SLOTS_MESSAGES = ("too many clients", "remaining connection slots are reserved")


class CheckError(Exception):
    """The check could not run; the message is one line for the operator."""


class MissingGrant(CheckError):
    """The role cannot see other sessions' state (it needs pg_monitor)."""


def require_stats_visibility(conn: psycopg.Connection) -> None:
    """Refuse a role without pg_read_all_stats (in pg_monitor): its counts would be wrong.

    PostgreSQL does not raise for such a role; it shows other roles' sessions
    with state NULL, so every count would quietly come out low.
    """
    user, visible = conn.execute(
        "SELECT current_user, pg_has_role('pg_read_all_stats', 'USAGE')"
    ).fetchone()
    if not visible:
        raise MissingGrant(
            f"role {user} cannot see other sessions' state: "
            f"GRANT pg_monitor TO {user} (or run as a superuser)"
        )


class NoFreeSlots(Exception):
    """PostgreSQL refused the connection because every usable slot is taken."""


def connect(dsn: str) -> psycopg.Connection:
    """An autocommit connection for reading statistics, or a one-line error."""
    try:
        return psycopg.connect(
            dsn,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=APPLICATION_NAME,
        )
    except psycopg.OperationalError as exc:
        reason = first_line(exc)
        if exc.sqlstate == "53300" or any(m in reason for m in NO_SLOTS_MESSAGES):
            raise NoFreeSlots(reason) from None
        raise CheckError(f"cannot connect to {mask_url(dsn)}: {reason}") from None
    except psycopg.ProgrammingError as exc:
        raise CheckError(f"invalid database URL {mask_url(dsn)}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    """The line of a database error that says why, without libpq's prefixes."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # libpq reports each address it tried, then hints; the last "failed:" line says why.
    failed = [line for line in lines if "failed:" in line]
    text = (failed or lines or [type(exc).__name__])[-1]
    text = text.removeprefix("connection failed: ")
    return " ".join(text.replace("FATAL:", "").split())
