"""Throwaway PostgreSQL and Redis servers, started from the installed binaries.

Each server gets a fresh data directory and a free port on 127.0.0.1, so tests
never touch a server someone else is using (5432, 6379). PostgreSQL refuses to
run as root, so as root its programs run as the `postgres` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from tests.support.leftovers import remove_scratch, scratch_dir
from tests.support.processes import start_in_own_group, stop_group, stop_server
from tests.support.tls import TlsFiles, server_tls

START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), reverse=True)
    if not candidates:
        raise RuntimeError("no PostgreSQL server found: run 'make servers'")
    return Path(candidates[0]).parent


def _as_postgres_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def _wait_until(
    ready, what: str, process: subprocess.Popen, log: Path, timeout: float = START_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited at start-up:\n{log.read_text()[-2000:]}")
        if ready():
            return
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{what} did not become ready in {timeout}s")


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, superuser `postgres`, trust auth
    unless `hba` gives pg_hba.conf's lines (e.g. scram-sha-256 for one role). With
    `tls`, it also speaks TLS (a certificate for 127.0.0.1 from a CA of its own):
    `url()` stays plain text, `tls_url()` verifies the server."""

    max_connections: int = 100
    settings: dict[str, str] = field(default_factory=dict)
    hba: list[str] | None = None
    tls: bool = False
    tls_files: TlsFiles | None = None
    port: int = 0
    datadir: Path | None = None
    process: subprocess.Popen | None = None

    def start(self) -> PostgresServer:
        bindir = postgres_bindir()
        self.datadir = scratch_dir("pg")
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.datadir, owner.pw_uid, owner.pw_gid)
        subprocess.run(
            _as_postgres_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(self.datadir / "data"),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--locale=C",
                ]
            ),
            check=True,
            capture_output=True,
        )
        if self.hba is not None:
            (self.datadir / "data" / "pg_hba.conf").write_text("\n".join(self.hba) + "\n")
        if self.tls:
            self.tls_files = server_tls(self.datadir / "tls", owner="postgres")
        self.port = free_port()
        return self.run()

    def run(self, timeout: float = START_TIMEOUT_S) -> PostgresServer:
        """Start postgres on the data directory as it is (start() made it; a restore may
        have replaced it) and wait until it accepts connections."""
        assert self.datadir is not None
        tls_settings = {}
        if self.tls_files is not None:
            tls_settings = {
                "ssl": "on",
                "ssl_cert_file": str(self.tls_files.cert),
                "ssl_key_file": str(self.tls_files.key),
            }
        options = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.datadir),
            "max_connections": str(self.max_connections),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_preload_libraries": "pg_stat_statements",
            "pg_stat_statements.track": "all",
            # SQLSTATE first on every log line, so tests can see e.g. 53300 refusals.
            "log_line_prefix": "%e ",
            **tls_settings,
            **self.settings,
        }
        argv = [str(postgres_bindir() / "postgres"), "-D", str(self.datadir / "data")]
        for key, value in options.items():
            argv += ["-c", f"{key}={value}"]
        log = self.datadir / "postgres.log"
        self.process = start_in_own_group(_as_postgres_user(argv), log)
        _wait_until(self._accepts, "postgres", self.process, log, timeout)
        return self

    def halt(self) -> None:
        """Stop postgres (fast shutdown) and keep its data directory."""
        stop_group(self.process, signal.SIGINT, timeout=30)

    def _accepts(self) -> bool:
        try:
            psycopg.connect(self.url(), connect_timeout=1).close()
            return True
        except psycopg.OperationalError:
            return False

    def url(
        self, dbname: str = "postgres", user: str = "postgres", password: str | None = None
    ) -> str:
        auth = user if password is None else f"{user}:{password}"
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{dbname}"

    def tls_url(self, dbname: str = "postgres", user: str = "postgres") -> str:
        """url() over TLS, the server's certificate and name verified (verify-full)."""
        assert self.tls_files, "started without tls"
        return f"{self.url(dbname, user)}?sslmode=verify-full&sslrootcert={self.tls_files.ca}"

    def log_text(self) -> str:
        return (self.datadir / "postgres.log").read_text()

    def stop(self) -> None:
        # SIGINT is PostgreSQL's "fast" shutdown: roll back and exit cleanly.
        stop_server(self.process, signal.SIGINT, 30, self.datadir)


@dataclass
class RedisServer:
    """A Redis server in a temporary directory: no persistence unless `config` says so.

    `config` is any redis.conf setting, e.g. {"maxmemory": "3mb", "maxmemory-policy":
    "allkeys-lru"} or {"appendonly": "yes", "appendfsync": "everysec"}; `password`
    sets requirepass (given in a config file, never on the command line). With `tls`
    it also listens with TLS on `tls_port` (`tls_url`), beside plain text on `port`.
    """

    config: dict[str, str] = field(default_factory=dict)
    password: str | None = None
    tls: bool = False
    tls_port: int = 0
    tls_files: TlsFiles | None = None
    port: int = 0
    workdir: Path | None = None
    process: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        """Start it; after `kill()` or `stop(keep_data=True)` it restarts on the same data."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("no redis-server found: run 'make servers'")
        if self.workdir is None:
            self.workdir = scratch_dir("redis")
        if not self.port:
            self.port = free_port()
        settings = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": '""',
            "appendonly": "no",
            "dir": str(self.workdir),
            "daemonize": "no",
            **self.config,
        }
        if self.password is not None:
            settings["requirepass"] = self.password
        if self.tls:
            self.tls_files = self.tls_files or server_tls(self.workdir / "tls")
            self.tls_port = self.tls_port or free_port()
            settings |= {
                "tls-port": str(self.tls_port),
                "tls-cert-file": str(self.tls_files.cert),
                "tls-key-file": str(self.tls_files.key),
                "tls-ca-cert-file": str(self.tls_files.ca),
                "tls-auth-clients": "no",
            }
        conf = self.workdir / "redis.conf"
        conf.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
        conf.chmod(0o600)
        log = self.workdir / "redis.log"
        self.process = start_in_own_group([binary, str(conf)], log)
        _wait_until(self._answers, "redis-server", self.process, log)
        return self

    def client(self, **options: object) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, **options)

    def _answers(self) -> bool:
        try:
            return bool(self.client(socket_timeout=1).ping())
        except redis.RedisError:
            return False

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def tls_url(self) -> str:
        """url over TLS on tls_port, the server's certificate and name verified."""
        assert self.tls_files, "started without tls"
        auth = f":{self.password}@" if self.password else ""
        return f"rediss://{auth}127.0.0.1:{self.tls_port}/0?ssl_ca_certs={self.tls_files.ca}"

    def kill(self) -> None:
        """SIGKILL, as a crash would: the data directory stays for `start()`."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self, keep_data: bool = False) -> None:
        """Stop the server; `start()` again brings it back on the same port
        (with its data when `keep_data`, else empty)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.workdir and not keep_data:
            remove_scratch(self.workdir)
            self.workdir = None
