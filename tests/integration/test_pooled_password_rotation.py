"""A pooled role's password rotated behind PgBouncer (TLS on both sides, SCRAM
pass-through), in roles/pgbouncer's rotate order: PostgreSQL takes the new password,
PgBouncer the new verifiers (auth_file), then the role's own program pauses PgBouncer,
reloads it, logs in once with the new password and resumes it.

PgBouncer opens server connections with the SCRAM keys of a client's login, kept per
user, and a reload replaces its server connections: until a client logs in with the new
password, every server connection it opens is refused by PostgreSQL (and its clients
wait, then fail). After the program the app's pools, logged in with the old password,
keep serving, and their new connections (old password first in the file: refused by
PgBouncer) go on with the next line; under traffic no transaction fails.
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import yaml

from app import config
from app.infra.database import new_pool
from tests.support.paths import REPO
from tests.support.pgbouncer import PgBouncerServer, create_role
from tests.support.servers import PostgresServer
from tests.support.traffic import senders
from tests.support.waiting import wait_for

ROLE = f"rotated_{uuid.uuid4().hex[:8]}"
HBA = [
    "local all all trust",
    "host all postgres 127.0.0.1/32 trust",
    f"hostssl all {ROLE} 127.0.0.1/32 scram-sha-256",
]
# Two server connections: the pools' clients queue for them; a refused server login
# shows within seconds (query_wait_timeout), not after a minute.
QUICK = {"default_pool_size": "2", "query_wait_timeout": "3", "server_login_retry": "1"}


@pytest.fixture
def backend() -> Iterator[PostgresServer]:
    server = PostgresServer(tls=True, hba=HBA).start()
    create_role(server, ROLE, "old-password")
    yield server
    server.stop()


def bouncer_of(backend: PostgresServer, settings: dict[str, str]) -> PgBouncerServer:
    ca_file = str(backend.tls_files.ca)
    verified = {"server_tls_sslmode": "verify-full", "server_tls_ca_file": ca_file}
    return PgBouncerServer(backend, "postgres", [ROLE], None, {**verified, **settings}, tls=True)


@pytest.fixture
def bouncer(backend) -> Iterator[PgBouncerServer]:
    bouncer = bouncer_of(backend, QUICK)
    yield bouncer.start()
    bouncer.stop()


@pytest.fixture
def deployed_bouncer(backend) -> Iterator[PgBouncerServer]:
    """As roles/pgbouncer waits (query_wait_timeout 10, server_login_retry left at 15),
    with two server connections for the pools' clients to queue for."""
    bouncer = bouncer_of(backend, {"default_pool_size": "2", "query_wait_timeout": "10"})
    yield bouncer.start()
    bouncer.stop()


def set_password(server: PostgresServer, password: str) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(f"ALTER ROLE {ROLE} PASSWORD '{password}'")


def pooled_url(bouncer: PgBouncerServer, tmp_path, *passwords: str) -> str:
    """The app's URL as client_url writes it: no password, a passfile with each one."""
    passfile = tmp_path / f"db-{len(passwords)}.pgpass"
    passfile.write_text("".join(f"*:*:*:{ROLE}:{p}\n" for p in passwords))
    passfile.chmod(0o600)
    return f"{bouncer.url(ROLE, '').replace(f'{ROLE}:@', f'{ROLE}@')}&passfile={passfile}"


def both_at_once(pool) -> None:
    """Two transactions open together: the bouncer needs a second server connection."""
    with pool.connection(timeout=10) as first, pool.connection(timeout=10) as second:
        first.execute("BEGIN")
        second.execute("BEGIN")
        assert first.execute("SELECT current_user").fetchone()[0] == ROLE
        assert second.execute("SELECT current_user").fetchone()[0] == ROLE
        first.execute("COMMIT")
        second.execute("COMMIT")


def open_pool(url: str, name: str):
    pool = new_pool(config.load({"DATABASE_URL": url}), name, 4, lambda: None, min_size=2)
    pool.open(wait=True, timeout=10)
    return pool


def reload_and_login(bouncer: PgBouncerServer, password: str) -> None:
    """roles/pgbouncer's own reload-and-login program (rotate.yml), on the system Python."""
    program = yaml.safe_load((REPO / "roles/pgbouncer/vars/main.yml").read_text())
    conninfo = bouncer.url(ROLE, "").replace(f"{ROLE}:@", f"{ROLE}@")
    argv = ["/usr/bin/python3", "-c", program["__pgbouncer_reload_and_login"], str(bouncer.pid)]
    done = subprocess.run(
        [*argv, conninfo], input=f"{password}\n", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def test_after_the_rotate_order_old_and_new_logins_both_serve(backend, bouncer, tmp_path):
    url = pooled_url(bouncer, tmp_path, "old-password", "new-password")
    serving = open_pool(url, "before-rotation")
    try:
        set_password(backend, "new-password")
        bouncer.take_verifiers(reload=False)
        reload_and_login(bouncer, "new-password")  # the login gives PgBouncer the new keys

        both_at_once(serving)  # logged in with the old password, new server connections
        fresh = open_pool(url, "after-rotation")  # old password refused, the next one used
        try:
            both_at_once(fresh)
        finally:
            fresh.close()
    finally:
        serving.close()


def test_under_traffic_the_rotate_order_fails_no_transaction(backend, deployed_bouncer, tmp_path):
    """More clients than server connections (they queue in PgBouncer), each running
    transactions throughout PostgreSQL's switch and the role's reload and login."""
    bouncer = deployed_bouncer
    serving = open_pool(pooled_url(bouncer, tmp_path, "old-password", "new-password"), "busy")
    done: list[int] = []
    failed: list[str] = []

    def transactions(stop: threading.Event, _: int) -> None:
        while not stop.is_set():
            try:
                with serving.connection(timeout=10) as conn:
                    conn.execute("SELECT pg_sleep(0.02)")
                done.append(1)
            except psycopg.Error as exc:
                failed.append(str(exc))

    try:
        with senders(transactions, range(4), join_s=30):
            wait_for(lambda: len(done) > 20, 30, "transactions before the switch")
            set_password(backend, "new-password")
            bouncer.take_verifiers(reload=False)
            reload_and_login(bouncer, "new-password")
            switched = len(done)
            wait_for(lambda: len(done) > switched + 20, 30, "transactions after the switch")
    finally:
        serving.close()

    assert failed == [], failed[:3]


def test_without_the_login_with_the_new_password_new_server_connections_fail(
    backend, bouncer, tmp_path
):
    serving = open_pool(pooled_url(bouncer, tmp_path, "old-password", "new-password"), "stale")
    try:
        set_password(backend, "new-password")
        bouncer.take_verifiers()  # its server connections are replaced once released

        with pytest.raises(psycopg.OperationalError):
            both_at_once(serving)
    finally:
        serving.close()
