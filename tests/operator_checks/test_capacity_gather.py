"""`gather` read in this process, field by field, against sessions in states the test chose."""

from __future__ import annotations

import psycopg
import pytest

from checks.capacity import stats
from checks.dbconnect import CheckError, MissingGrant, connect

SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
    "AND state = 'active' AND query LIKE '%pg_sleep%'"
)
SLOW_OLDER_THAN = SLEEPING + " AND clock_timestamp() - query_start > interval '{} seconds'"
UNGRANTED = "SELECT count(*) FROM pg_locks WHERE NOT granted"
POOLS = ("goalgpt-web", "goalgpt-worker")


def test_gather_reads_every_count_from_the_server(sessions, monitor_url):
    holder = sessions.open(1)[0]
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE contended IN ACCESS EXCLUSIVE MODE")
    watcher = sessions.open(1)[0]
    sessions.open(1, app="reporting-tool")
    sessions.running(2, app="goalgpt-worker")
    sessions.running(1, "SELECT count(*) FROM contended", app="reporting-tool")
    sessions.wait_for(watcher, UNGRANTED, 1)
    sessions.wait_for(watcher, SLOW_OLDER_THAN.format(0.7), 2)

    with connect(monitor_url) as conn:
        found = stats.gather(conn, POOLS, slow_query_s=0.5)

    assert found.server_version.startswith("15")
    assert (found.max_connections, found.superuser_reserved, found.reserved) == (100, 3, 0)
    assert (found.reserved_slots, found.usable_slots) == (3, 97)
    # holder + watcher + reporting idle + 2 sleeping + 1 waiting; the probe not counted
    assert (found.total, found.active, found.idle, found.idle_in_transaction) == (6, 3, 2, 1)
    assert (found.pool_connections, found.other_connections) == (4, 2)
    assert (found.slow_query_s, found.lock_waits) == (0.5, 1)
    assert found.slow_queries == 3, "the lock waiter is active and older than 0.5 s too"
    [leak] = found.idle_transactions
    assert (leak.pid, leak.application) == (holder.info.backend_pid, "goalgpt-web")
    assert leak.user == "postgres" and leak.age_s > 0
    assert leak.query == "LOCK TABLE contended IN ACCESS EXCLUSIVE MODE"


def test_gather_refuses_a_role_that_cannot_see_other_sessions(capacity_pg, sessions):
    with psycopg.connect(capacity_pg.url(), autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS edge_nogrant")
        admin.execute("CREATE ROLE edge_nogrant LOGIN PASSWORD 'edge-secret'")
    sessions.open(1)
    with (
        connect(capacity_pg.url(user="edge_nogrant", password="edge-secret")) as conn,
        pytest.raises(MissingGrant),
    ):
        stats.gather(conn, POOLS, slow_query_s=1)


def test_a_failed_read_is_one_line_naming_the_servers_reason(monitor_url):
    with psycopg.connect(monitor_url) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero):
            conn.execute("SELECT 1 / 0")
        with pytest.raises(CheckError) as raised:
            stats.gather(conn, POOLS, slow_query_s=1)

    assert str(raised.value) == (
        "cannot read statistics: current transaction is aborted, "
        "commands ignored until end of transaction block"
    )
