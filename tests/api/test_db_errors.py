"""Which failures mean "the database is unavailable", and every form of "too many clients"."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import PoolTimeout

from app.infra.errors import classify
from app.infra.refusal import is_too_many_clients


@pytest.mark.parametrize(
    "exc",
    [
        errors.TooManyConnections("sorry, too many clients already"),  # SQLSTATE 53300
        psycopg.OperationalError(  # refused while connecting: sqlstate is None
            "connection failed: FATAL:  sorry, too many clients already"
        ),
        psycopg.OperationalError("ERROR:  no more connections allowed (max_client_conn)"),
        psycopg.OperationalError(
            "(EMAXCONNSESSION) MaxClientsInSessionMode: max clients reached - in Session mode "
            "max clients are limited to pool_size: 15"
        ),
        psycopg.OperationalError("FATAL: Max client connections reached"),
        errors.TooManyConnections("remaining connection slots are reserved for superusers"),
        # What a non-superuser meets first, at connect time (no SQLSTATE): 15, then 16+.
        psycopg.OperationalError(
            'connection failed: connection to server at "127.0.0.1", port 5432 failed: FATAL:  '
            "remaining connection slots are reserved for non-replication superuser connections"
        ),
        psycopg.OperationalError(
            "FATAL:  remaining connection slots are reserved for roles with the SUPERUSER attribute"
        ),
        psycopg.OperationalError(
            "FATAL:  remaining connection slots are reserved for roles with privileges of the "
            '"pg_use_reserved_connections" role'
        ),
        errors.TooManyConnections("any text at all"),  # SQLSTATE 53300 on a query
        psycopg.OperationalError(
            "server closed the connection unexpectedly: no more connections allowed "
            "(max_client_conn)"
        ),
        # PgBouncer throws out a client that waited query_wait_timeout for a server.
        errors.ProtocolViolation("query_wait_timeout"),  # SQLSTATE 08P01
    ],
)
def test_every_form_of_too_many_clients_is_recognised(exc):
    assert is_too_many_clients(exc)
    assert classify(exc) == "too_many_clients"


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (PoolTimeout("couldn't get a connection after 5.00 sec"), "pool_timeout"),
        (errors.QueryCanceled("canceling statement due to statement timeout"), "timeout"),
        (psycopg.OperationalError("connection refused"), "connection"),
        (errors.AdminShutdown("terminating connection due to administrator command"), "connection"),
        (errors.UndefinedTable('relation "predictions" does not exist'), None),
        (errors.SyntaxError("syntax error at or near"), None),
        (ValueError("not a database error"), None),
    ],
)
def test_failures_are_classified_by_what_they_mean_for_a_request(exc, kind):
    assert classify(exc) == kind
