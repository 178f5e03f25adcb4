"""Fixtures of the operator-check tests: a PostgreSQL with password auth and monitoring roles."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import psycopg
import pytest

from app.migrations import apply
from tests.operator_checks.pgsessions import Sessions, with_monitor_role
from tests.support.checks import MONITOR_PASSWORD, NOGRANT_PASSWORD, Probe
from tests.support.databases import create_database, drop_database
from tests.support.gunicorn import GunicornServer
from tests.support.leftovers import remove_scratch, scratch_dir
from tests.support.metrics_server import ScriptedMetricsServer, Step
from tests.support.pgbouncer import PgBouncerServer, create_role
from tests.support.processes import run_module
from tests.support.servers import PostgresServer, RedisServer
from tests.support.started import stopped_at_end
from tests.support.waiting import wait_for

# The superuser keeps trust (the harness needs it); every other role needs its password.
HBA = """\
local all all trust
host all postgres 127.0.0.1/32 trust
host all all 127.0.0.1/32 scram-sha-256
"""


@pytest.fixture(scope="session")
def capacity_pg(start_postgres) -> PostgresServer:
    """A PostgreSQL like the seed's (max_connections 100, 3 reserved) for probe tests only.

    Roles: `monitor` (pg_monitor, the documented grant) and `nogrant` (none); both
    log in with a password, so a wrong one is refused.
    """
    server = start_postgres(max_connections=100)
    (server.datadir / "data" / "pg_hba.conf").write_text(HBA)
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
        conn.execute(f"CREATE ROLE monitor LOGIN PASSWORD '{MONITOR_PASSWORD}' IN ROLE pg_monitor")
        conn.execute(f"CREATE ROLE nogrant LOGIN PASSWORD '{NOGRANT_PASSWORD}'")
        conn.execute("CREATE TABLE contended (id int)")
    return server


# The app role PgBouncer pools on capacity_pg (SCRAM, as the monitor: pass-through).
POOLED_ROLE, POOLED_PASSWORD = "pooled", "pooled-secret"


@pytest.fixture(scope="session")
def pooled_role(capacity_pg) -> str:
    create_role(capacity_pg, POOLED_ROLE, POOLED_PASSWORD)
    return POOLED_ROLE


@pytest.fixture(scope="module")
def capacity_bouncer(capacity_pg, pooled_role) -> Iterator[PgBouncerServer]:
    """PgBouncer in front of capacity_pg with ONE server connection for the `pooled` role,
    `monitor` as its stats user, TLS only as deployed: clients beyond the first wait
    (cl_waiting). Its server
    connection is gone when the module ends: the probe's tests count every session."""
    one_server = {"default_pool_size": "1", "max_db_connections": "1"}
    bouncer = PgBouncerServer(
        capacity_pg, "postgres", [pooled_role], "monitor", one_server, tls=True
    ).start()
    yield bouncer
    bouncer.stop()
    wait_for(lambda: not sessions_of(capacity_pg, pooled_role), 30, "PgBouncer's sessions to end")


def sessions_of(server: PostgresServer, role: str) -> list[int]:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE usename = %s", [role])
        return [pid for (pid,) in rows.fetchall()]


@pytest.fixture
def bouncer_urls(capacity_bouncer) -> tuple[str, str]:
    """(the pooled role's URL, the stats user's console URL) of capacity_bouncer."""
    return (
        capacity_bouncer.url(POOLED_ROLE, POOLED_PASSWORD),
        capacity_bouncer.admin_url(MONITOR_PASSWORD),
    )


@pytest.fixture
def monitor_url(capacity_pg) -> str:
    """The probe's DSN: the non-superuser with only pg_monitor."""
    return capacity_pg.url(user="monitor", password=MONITOR_PASSWORD)


@pytest.fixture
def sessions_on() -> Iterator[Callable[[PostgresServer], Sessions]]:
    """Sessions on a server of the test's choice, all terminated after the test."""
    with ExitStack() as opened:
        yield lambda server: opened.enter_context(Sessions(server.url()))


@pytest.fixture
def sessions(capacity_pg, sessions_on) -> Sessions:
    return sessions_on(capacity_pg)


@pytest.fixture
def run_check() -> Callable[..., Probe]:
    """Run `python -m <module> ARGS` as an operator would, with a fixed pool max."""

    def run(module: str, *args: str, timeout: float = 60, **env: str) -> Probe:
        environ = {**os.environ, "DB_MAX_CONNECTIONS": "50", **env}
        done = run_module(module, *args, env=environ, timeout=timeout)
        return Probe(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def metrics_server() -> Iterator[Callable[..., ScriptedMetricsServer]]:
    """Start scripted /metrics servers (tests/support/metrics_server.py); all stopped
    afterwards."""

    def start(*steps: Step) -> ScriptedMetricsServer:
        return ScriptedMetricsServer(steps).start()

    with stopped_at_end(start) as started:
        yield started


@pytest.fixture(scope="session")
def live_pg(start_postgres) -> Iterator[PostgresServer]:
    """The database server of the live-app tests, with a pg_monitor role (trust auth),
    archiving its WAL (into a directory: PostgreSQL's own example archive_command) with
    one segment archived, as a deployment's is after pgBackRest's check."""
    archive = scratch_dir("wal-archive")
    shutil.chown(archive, "postgres", "postgres")
    server = start_postgres(
        max_connections=100, archive_mode="on", archive_command=f"cp %p {archive}/%f"
    )
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE archived_once (id int)")
        conn.execute("SELECT pg_switch_wal()")
        wait_for(
            lambda: conn.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()[0],
            30,
            "a WAL segment to be archived",
        )
    yield with_monitor_role(server)
    remove_scratch(archive)


@pytest.fixture(scope="module")
def live_database(live_pg) -> Iterator[str]:
    """A migrated database of its own for one module's app."""
    name = create_database(live_pg)
    apply(live_pg.url(name))
    yield live_pg.url(name)
    drop_database(live_pg, name)


@pytest.fixture(scope="module")
def live_redis() -> Iterator[RedisServer]:
    """A Redis of this module's own, cache and queues (never evicting, with a maxmemory as
    the smoke gate requires): the smoke-gate tests stop and restart it."""
    server = RedisServer(config={"maxmemory": "64mb", "maxmemory-policy": "noeviction"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def start_app() -> Iterator[Callable[..., GunicornServer]]:
    """Start the real service under gunicorn (one worker: its gauges are always fresh)."""

    def start(database_url: str, redis_url: str, **env: str) -> GunicornServer:
        settings = {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "RQ_REDIS_URL": redis_url,
            **env,
        }
        return GunicornServer(settings, workers=1, threads=16).start()

    with stopped_at_end(start) as started:
        yield started
