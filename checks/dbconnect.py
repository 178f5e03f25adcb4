"""Connect to PostgreSQL for a check, and say in one line why it failed.

A refusal for lack of connection slots (every form `app.infra.refusal` knows) is a
finding about the database, not a failure of the check, so it gets its own
exception.
"""

from __future__ import annotations

import os

import psycopg

from app.config import mask_url
from app.infra import pgpass
from app.infra.errors import connect_reason
from app.infra.names import CHECKS as APPLICATION_NAME
from app.infra.refusal import is_too_many_clients

CONNECT_TIMEOUT_S = 5


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


MONITOR_DSN_ENV = "GOALGPT_MONITOR_DSN"
NO_DATABASE = (
    f"no database given: pass --dsn, or set {MONITOR_DSN_ENV} (the monitoring role) or DATABASE_URL"
)


def monitor_dsn(explicit: str | None) -> str:
    """The checks' database URL: --dsn, else the monitoring role's, else the app's."""
    dsn = explicit or os.environ.get(MONITOR_DSN_ENV) or os.environ.get("DATABASE_URL")
    if not dsn:
        raise CheckError(NO_DATABASE)
    return dsn


class NoFreeSlots(Exception):
    """PostgreSQL refused the connection because every usable slot is taken."""


def connect(dsn: str) -> psycopg.Connection:
    """An autocommit connection for reading statistics, or a one-line error."""
    try:
        return pgpass.connect(
            psycopg.connect,
            dsn,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name=APPLICATION_NAME,
        )
    except psycopg.OperationalError as exc:
        reason = connect_reason(exc)
        if is_too_many_clients(exc):
            raise NoFreeSlots(reason) from None
        raise CheckError(f"cannot connect to {mask_url(dsn)}: {reason}") from None
    except psycopg.ProgrammingError as exc:
        raise CheckError(f"invalid database URL {mask_url(dsn)}: {connect_reason(exc)}") from None
