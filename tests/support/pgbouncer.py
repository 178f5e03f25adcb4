"""A throwaway PgBouncer (Debian's /usr/sbin/pgbouncer) in front of a test PostgreSQL.

Configured as roles/pgbouncer configures the fleet's: transaction pooling, SCRAM
against the roles' verifiers copied from pg_authid into auth_file (no plain-text
password on disk), an empty server_reset_query (never run in transaction mode), a
stats user for SHOW POOLS; with `tls`, clients must use TLS (client_tls_sslmode
require, hostssl) and its URLs verify the certificate (sslmode=verify-full). Pool
sizes and limits are the caller's, so a test can force two clients onto one server
connection or run out of client slots. PgBouncer refuses to run as root: as root it
runs as `postgres`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.support.leftovers import scratch_dir
from tests.support.processes import start_in_own_group, stop_server
from tests.support.servers import PostgresServer, _wait_until, free_port
from tests.support.tls import TlsFiles, server_tls
from tests.support.waiting import wait_for

BINARY = "/usr/sbin/pgbouncer"
ADMIN_DATABASE = "pgbouncer"


def verifiers(server: PostgresServer, roles: list[str]) -> dict[str, str]:
    """Each role's SCRAM verifier as PostgreSQL stores it (the roles need a password)."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)", [roles]
        ).fetchall()
    found = dict(rows)
    missing = [r for r in roles if not (found.get(r) or "").startswith("SCRAM-SHA-256$")]
    if missing:
        raise RuntimeError(f"no SCRAM verifier for {missing}: create them WITH PASSWORD")
    return found


def create_role(server: PostgresServer, role: str, password: str, *grants: str) -> None:
    """A login role with a SCRAM password; each grant is run as given (e.g. 'pg_monitor')."""
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        for grant in grants:
            conn.execute(f"GRANT {grant} TO {role}")


@dataclass
class PgBouncerServer:
    """PgBouncer on 127.0.0.1:<free port> pooling `dbname` of `backend` for `users`."""

    backend: PostgresServer
    dbname: str
    users: list[str]
    stats_user: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    tls: bool = False
    port: int = 0
    tls_files: TlsFiles | None = None
    root: Path | None = None
    process: object = None

    def start(self) -> PgBouncerServer:
        self.root = scratch_dir("pgbouncer")
        self.port = free_port()
        everyone = [*self.users, *([self.stats_user] if self.stats_user else [])]
        found = verifiers(self.backend, everyone)
        self._write("userlist.txt", "".join(f'"{u}" "{found[u]}"\n' for u in everyone))
        kind = "hostssl" if self.tls else "host"
        hba = [f"{kind} {self.dbname} {u} 127.0.0.1/32 scram-sha-256" for u in self.users]
        if self.stats_user:
            hba.append(f"{kind} {ADMIN_DATABASE} {self.stats_user} 127.0.0.1/32 scram-sha-256")
        if self.tls:
            self.tls_files = server_tls(self.root / "tls", "pgbouncer", owner="postgres")
        self._write("hba.conf", "\n".join(hba) + "\n")
        self._write("pgbouncer.ini", self._ini())
        log = self.root / "pgbouncer.out"
        argv = [BINARY, str(self.root / "pgbouncer.ini")]
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            argv = ["runuser", "-u", "postgres", "--", *argv]
        self.process = start_in_own_group(argv, log)
        _wait_until(self._listens, "pgbouncer", self.process, log)
        return self

    def _ini(self) -> str:
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "hba",
            "auth_hba_file": str(self.root / "hba.conf"),
            "auth_file": str(self.root / "userlist.txt"),
            "pool_mode": "transaction",
            "server_reset_query": "",
            "default_pool_size": "20",
            "logfile": str(self.root / "pgbouncer.log"),
            "pidfile": str(self.root / "pgbouncer.pid"),
            **({"stats_users": self.stats_user} if self.stats_user else {}),
            **self._tls_settings(),
            **self.settings,
        }
        database = f"{self.dbname} = host=127.0.0.1 port={self.backend.port} dbname={self.dbname}"
        lines = ["[databases]", database, "[pgbouncer]"]
        return "\n".join(lines + [f"{k} = {v}" for k, v in settings.items()]) + "\n"

    def _tls_settings(self) -> dict[str, str]:
        if not self.tls_files:
            return {}
        return {
            "client_tls_sslmode": "require",
            "client_tls_key_file": str(self.tls_files.key),
            "client_tls_cert_file": str(self.tls_files.cert),
        }

    def _query(self) -> str:
        if not self.tls_files:
            return ""
        return f"?sslmode=verify-full&sslrootcert={self.tls_files.ca}"

    def _write(self, name: str, text: str) -> None:
        # A new file renamed over the old one, as Ansible's copy does: PgBouncer rereads
        # auth_file only when its inode, size or mtime (seconds) changed.
        path = self.root / f".{name}.new"
        path.write_text(text)
        path.chmod(0o600)
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")
        path.replace(self.root / name)

    def take_verifiers(self, reload: bool = True) -> None:
        """What roles/pgbouncer's rotate does first: auth_file from pg_authid again, then
        (unless the caller does it) a reload (SIGHUP)."""
        everyone = [*self.users, *([self.stats_user] if self.stats_user else [])]
        found = verifiers(self.backend, everyone)
        self._write("userlist.txt", "".join(f'"{u}" "{found[u]}"\n' for u in everyone))
        if reload:
            os.kill(self.pid, signal.SIGHUP)

    @property
    def pid(self) -> int:
        return int((self.root / "pgbouncer.pid").read_text())

    def _listens(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def url(self, user: str, password: str) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{self.dbname}{self._query()}"

    def admin_url(self, password: str) -> str:
        host = f"127.0.0.1:{self.port}"
        return f"postgresql://{self.stats_user}:{password}@{host}/{ADMIN_DATABASE}{self._query()}"

    def log_text(self) -> str:
        return (self.root / "pgbouncer.log").read_text()

    def stop(self) -> None:
        # SIGTERM: PgBouncer's immediate shutdown; a test's open transaction cannot hold it.
        stop_server(self.process, signal.SIGTERM, 10, self.root)


def client_waiting(admin_url: str) -> int:
    """cl_waiting over the bouncer's pools (its console's own left out)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        cur = conn.execute("SHOW POOLS")
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return sum(r["cl_waiting"] for r in rows if r["database"] != ADMIN_DATABASE)


@contextmanager
def clients_waiting(url: str, admin_url: str, count: int) -> Iterator[None]:
    """`count` clients waiting in a bouncer whose pool has ONE server connection: a first
    client holds it in an open transaction, the others each send a query. They stay
    waiting (seen in SHOW POOLS) until the block ends, then all finish."""
    holder = psycopg.connect(url, autocommit=True, prepare_threshold=None)
    holder.execute("BEGIN")
    holder.execute("SELECT 1")
    done: list[BaseException | None] = []

    def wait_in_line() -> None:
        try:
            with psycopg.connect(url, autocommit=True, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            done.append(None)
        except BaseException as exc:  # reported to the test below
            done.append(exc)

    threads = [threading.Thread(target=wait_in_line) for _ in range(count)]
    try:
        for thread in threads:
            thread.start()
        wait_for(lambda: client_waiting(admin_url) == count, 10, f"{count} clients waiting")
        yield
    finally:
        holder.execute("COMMIT")
        holder.close()
        for thread in threads:
            thread.join(timeout=30)
    assert done == [None] * count, done


def logins(log: str, user: str = "goalgpt") -> list[tuple[str, str]]:
    """(client address, TLS version or "no") of each login of `user` in PgBouncer's log,
    from lines such as "C-0x...: goalgpt/goalgpt@10.213.9.21:40312 login attempt:
    db=goalgpt user=goalgpt tls=TLSv1.3/TLS_AES_256_GCM_SHA384"."""
    marker = f"/{user}@"
    return [
        (line.split(marker)[1].split(":")[0], line.rsplit("tls=", 1)[1].split("/")[0])
        for line in log.splitlines()
        if "login attempt:" in line and marker in line
    ]
