"""A database password rotated under a running client: the password file holds the old
and the new password while the server switches (playbooks/rotate_secrets.yml), and
every new connection of the pools (web, jobs) and the checks succeeds on both sides
of the switch (app.infra.pgpass) against a real PostgreSQL with SCRAM."""

from __future__ import annotations

import psycopg
import pytest

from app import config
from app.infra.database import new_pool
from checks import dbconnect
from tests.support.servers import PostgresServer

ROLE = "rotated"
HBA = [
    "local all all trust",
    f"host all {ROLE} 127.0.0.1/32 scram-sha-256",
    "host all postgres 127.0.0.1/32 trust",
]


@pytest.fixture(scope="module")
def server():
    server = PostgresServer(hba=HBA).start()
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD 'old-password'")
    yield server
    server.stop()


def set_password(server: PostgresServer, password: str) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {ROLE} PASSWORD '{password}'")


def url_with(server: PostgresServer, tmp_path, *passwords: str) -> str:
    passfile = tmp_path / "db.pgpass"
    passfile.write_text("".join(f"*:*:*:{ROLE}:{p}\n" for p in passwords))
    passfile.chmod(0o600)
    return f"postgresql://{ROLE}@127.0.0.1:{server.port}/postgres?passfile={passfile}"


def pool_connects(url: str) -> str:
    settings = config.load({"DATABASE_URL": url})
    pool = new_pool(settings, "rotation-test", 2, lambda: None, min_size=1)
    pool.open(wait=True, timeout=10)
    try:
        with pool.connection(timeout=10) as conn:
            return conn.execute("SELECT current_user").fetchone()[0]
    finally:
        pool.close()


def test_both_passwords_in_the_file_connect_on_both_sides_of_the_switch(server, tmp_path):
    set_password(server, "old-password")
    url = url_with(server, tmp_path, "old-password", "new-password")
    assert pool_connects(url) == ROLE

    set_password(server, "new-password")

    assert pool_connects(url) == ROLE
    with dbconnect.connect(url) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == ROLE


def test_the_old_password_alone_is_refused_after_the_switch(server, tmp_path):
    set_password(server, "new-password")
    url = url_with(server, tmp_path, "old-password")
    with pytest.raises(dbconnect.CheckError, match="password authentication failed"):
        dbconnect.connect(url)


def test_a_failure_past_the_password_is_the_one_reported(server, tmp_path):
    set_password(server, "new-password")
    url = url_with(server, tmp_path, "old-password", "new-password").replace(
        "/postgres?", "/no_such_database?"
    )
    with pytest.raises(dbconnect.CheckError, match='database "no_such_database" does not exist'):
        dbconnect.connect(url)
