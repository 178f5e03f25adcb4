"""A pgBackRest repository for one throwaway cluster (local, as on inventory/local): its
configuration directory, repository, logs and locks under one scratch directory, every
command run as postgres. The backup tools' tests and bench/restore_rto.py use it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from checks.backup import info
from tests.support.servers import PostgresServer

STANZA = "drill"


@dataclass
class Repository:
    """A pgBackRest configuration directory and repository for one cluster."""

    root: Path
    server: PostgresServer | None = None

    @property
    def conf_dir(self) -> Path:
        return self.root / "conf"

    @property
    def command(self) -> list[str]:
        """pgbackrest and the options every command takes, as postgres runs it."""
        return ["pgbackrest", f"--config-path={self.conf_dir}", f"--stanza={STANZA}"]

    def archive_command(self) -> str:
        return " ".join(self.command) + " archive-push %p"

    def write_config(self, server: PostgresServer) -> None:
        self.server = server
        assert server.datadir is not None
        (self.conf_dir / "conf.d").mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "pgbackrest.conf").write_text(
            "[global]\n"
            f"repo1-path={self.root / 'repo'}\n"
            f"log-path={self.root / 'log'}\n"
            f"lock-path={self.root / 'lock'}\n"
            f"spool-path={self.root / 'spool'}\n"
            "repo1-cipher-type=aes-256-cbc\n"
            "log-level-console=warn\n"
            "start-fast=y\n"
            "compress-type=lz4\n"
            f"[{STANZA}]\n"
            f"pg1-path={server.datadir / 'data'}\n"
            f"pg1-port={server.port}\n"
            f"pg1-socket-path={server.datadir}\n"
        )
        (self.conf_dir / "conf.d" / "cipher.conf").write_text(
            "[global]\nrepo1-cipher-pass=not-a-secret-only-a-test\n"
        )
        for sub in ("repo", "log", "lock", "spool"):
            (self.root / sub).mkdir(exist_ok=True)
        subprocess.run(["chown", "-R", "postgres:postgres", str(self.root)], check=True)

    def info(self) -> info.Stanza:
        """The stanza as `pgbackrest info` shows it (run as postgres, like every command)."""
        return info.parse(self.run("--output=json", "info").stdout, STANZA)

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`pgbackrest ... ARGS` as postgres; fails the test when it fails."""
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *self.command, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert done.returncode == 0, f"pgbackrest {' '.join(args)}: {done.stdout}{done.stderr}"
        return done
