"""An isolated deployment on this machine, made and removed by the tests.

Everything a deploy creates lives under one temporary root, on free ports, with a
uniquely named PostgreSQL cluster and service user, so `make test` never touches
a real deployment (5432, 6379, 8000, /etc/goalgpt). `teardown()` removes it all:
supervisord and its programs, the cluster, the user, the directory.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import free_port

REPO = Path(__file__).resolve().parents[2]
PG_VERSION = "15"
RECAP = re.compile(
    r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


@dataclass
class PlaybookRun:
    returncode: int
    output: str

    def changed(self) -> dict[str, int]:
        """changed= per host from the PLAY RECAP."""
        return {m[1]: int(m[3]) for m in RECAP.finditer(self.output)}

    def failed(self) -> dict[str, int]:
        return {m[1]: int(m[5]) for m in RECAP.finditer(self.output)}

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


@dataclass
class Deployment:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="goalgpt-e2e-")))
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        # The service user and postgres must reach their files below the root.
        self.root.chmod(0o755)
        for sub in ("etc", "log", "pglog"):
            (self.root / sub).mkdir(exist_ok=True)
        shutil.chown(self.root / "pglog", "postgres", "postgres")
        self.vars_file.write_text(json.dumps(self.variables(), indent=2))

    @property
    def cluster(self) -> str:
        return f"goalgpt_e2e_{self.tag}"

    @property
    def user(self) -> str:
        return f"ge2e{self.tag}"

    @property
    def vars_file(self) -> Path:
        return self.root / "vars.json"

    @property
    def inventory(self) -> Path:
        return REPO / "inventory" / "local"

    @property
    def env_file(self) -> Path:
        return self.root / "etc" / "goalgpt" / "goalgpt.env"

    @property
    def supervisor_conf(self) -> Path:
        return self.root / "etc" / "supervisor" / "supervisord.conf"

    @property
    def venv(self) -> Path:
        return self.root / "opt" / "goalgpt" / "venv"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def variables(self) -> dict[str, object]:
        root = self.root
        return {
            "supervisor_venv": f"{root}/opt/supervisor",
            "supervisor_conf_dir": f"{root}/etc/supervisor",
            "supervisor_run_dir": f"{root}/run/supervisor",
            "supervisor_log_dir": f"{root}/log/supervisor",
            "postgresql_cluster": self.cluster,
            "postgresql_port": self.pg_port,
            "postgresql_data_dir": f"{root}/pgdata",
            "postgresql_log_file": f"{root}/pglog/postgresql.log",
            "postgresql_password_file": f"{root}/etc/db-password",
            "redis_port": self.redis_port,
            "redis_conf_path": f"{root}/etc/redis.conf",
            "redis_data_dir": f"{root}/redis",
            "goalgpt_base_user": self.user,
            "goalgpt_base_group": self.user,
            "goalgpt_base_home": f"{root}/opt/goalgpt",
            "goalgpt_base_config_dir": f"{root}/etc/goalgpt",
            "goalgpt_base_run_dir": f"{root}/run/goalgpt",
            "goalgpt_base_db_password_file": f"{root}/etc/db-password",
            "goalgpt_base_web_port": self.web_port,
            "goalgpt_base_web_workers": 2,
            "goalgpt_base_web_threads": 4,
            "goalgpt_workers_count": 2,
        }

    def playbook(self, name: str, *args: str, timeout: float = 900) -> PlaybookRun:
        """Run playbooks/<name> on inventory/local with this deployment's variables."""
        argv = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            str(REPO / "playbooks" / name),
            "-i",
            str(self.inventory),
            "-e",
            f"@{self.vars_file}",
            *args,
        ]
        env = os.environ | {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
        done = subprocess.run(
            argv,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        return PlaybookRun(done.returncode, done.stdout)

    def env(self) -> dict[str, str]:
        """The service environment as deployed (the env file, parsed)."""
        values = {}
        for line in self.env_file.read_text().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.partition("=")
                values[name] = value.strip('"')
        return values

    def supervisorctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(self.root / "opt/supervisor/bin/supervisorctl"),
                "-c",
                str(self.supervisor_conf),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def teardown(self) -> None:
        """Remove everything the deployment made; safe to call on a half-made one."""
        if self.supervisor_conf.exists():
            self.supervisorctl("shutdown")
            self._wait_gone(self.root / "run" / "supervisor" / "supervisord.pid")
        subprocess.run(
            ["pg_dropcluster", "--stop", PG_VERSION, self.cluster],
            capture_output=True,
            timeout=120,
        )
        subprocess.run(["userdel", self.user], capture_output=True, timeout=30)
        subprocess.run(["groupdel", self.user], capture_output=True, timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _wait_gone(pidfile: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
