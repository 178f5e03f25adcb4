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
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tests.support.leftovers import drop_cluster, remove_scratch, scratch_dir
from tests.support.paths import REPO
from tests.support.servers import free_port

PG_VERSION = "15"
# supervisord programs of the service (the rest are Redis, PostgreSQL's and monitoring's).
SERVICE_PROGRAMS = ("goalgpt-web", "goalgpt-worker", "goalgpt-cron")
# A deploy that converges every host whatever their receipts say (playbooks/receipt.yml):
# the runs that prove the roles change nothing on a second pass.
FULL_CONVERGE = ("-e", "goalgpt_deploy_full=true")
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

    def changed_tasks(self) -> list[str]:
        """The TASK headers whose result was 'changed', for failure messages."""
        found, task = [], ""
        for line in self.output.splitlines():
            if line.startswith("TASK ["):
                task = line.rstrip(" *")
            elif line.startswith("changed:") and task not in found:
                found.append(task)
        return found

    def tail(self, lines: int = 80) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


@dataclass
class Deployment:
    root: Path = field(default_factory=lambda: scratch_dir("e2e"))
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    pg_port: int = field(default_factory=free_port)
    redis_cache_port: int = field(default_factory=free_port)
    redis_queue_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    prometheus_port: int = field(default_factory=free_port)
    alertmanager_port: int = field(default_factory=free_port)
    alert_log_port: int = field(default_factory=free_port)
    postgres_exporter_port: int = field(default_factory=free_port)
    redis_exporter_port: int = field(default_factory=free_port)
    redis_queue_exporter_port: int = field(default_factory=free_port)
    pgbouncer_port: int = field(default_factory=free_port)
    pgbouncer_exporter_port: int = field(default_factory=free_port)
    backup_exporter_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        # The service user and postgres must reach their files below the root.
        self.root.chmod(0o755)
        # etc/ is left for the roles to create, as on a fresh host.
        for sub in ("log", "pglog"):
            (self.root / sub).mkdir(exist_ok=True)
        shutil.chown(self.root / "pglog", "postgres", "postgres")
        self.inventory.write_text(json.dumps(self.inventory_data(), indent=2))

    @property
    def cluster(self) -> str:
        return f"goalgpt_e2e_{self.tag}"

    @property
    def user(self) -> str:
        return f"ge2e{self.tag}"

    @property
    def inventory(self) -> Path:
        """inventory/local's layout (every group on this machine) with this deployment's
        variables as host variables, so testinfra reads them too."""
        return self.root / "inventory.json"

    def inventory_data(self) -> dict[str, object]:
        host = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            **self.variables(),
        }
        groups = {
            name: {"hosts": {"localhost": {}}}
            for name in ("db", "pgbouncer", "redis", "app", "workers", "monitoring", "backup")
        }
        return {"all": {"hosts": {"localhost": host}, "children": groups}}

    @property
    def env_file(self) -> Path:
        return self.root / "etc" / "goalgpt" / "goalgpt.env"

    @property
    def supervisor_conf(self) -> Path:
        return self.root / "etc" / "supervisor" / "supervisord.conf"

    @property
    def venv(self) -> Path:
        return self.root / "opt" / "goalgpt" / "current" / "venv"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alert_log(self) -> Path:
        return self.root / "log" / "alerts" / "alerts.jsonl"

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
            # Never /etc/goalgpt on this machine: another deployment may live there.
            "postgresql_old_password_files": [],
            "goalgpt_tls_dir": f"{root}/etc/tls",
            "goalgpt_pgbouncer_port": self.pgbouncer_port,
            "pgbouncer_conf_dir": f"{root}/etc/pgbouncer",
            "redis_cache_port": self.redis_cache_port,
            "redis_queue_port": self.redis_queue_port,
            "redis_conf_dir": f"{root}/etc/redis",
            "redis_data_dir": f"{root}/redis",
            "redis_cache_password_file": f"{root}/etc/redis-cache-password",
            "redis_queue_password_file": f"{root}/etc/redis-queue-password",
            "goalgpt_base_user": self.user,
            "goalgpt_base_group": self.user,
            "goalgpt_base_home": f"{root}/opt/goalgpt",
            "goalgpt_base_config_dir": f"{root}/etc/goalgpt",
            "goalgpt_base_run_dir": f"{root}/run/goalgpt",
            "goalgpt_base_web_port": self.web_port,
            "goalgpt_base_web_workers": 2,
            "goalgpt_base_web_threads": 4,
            "goalgpt_workers_count": 2,
            # Low, so raise_pool.yml's tests raise it within the probe's recommendation.
            "goalgpt_base_db_max_connections": 5,
            "goalgpt_receipt_path": f"{root}/deploy-receipt.json",
            "goalgpt_receipt_watch": [f"{root}/etc"],
            **self.monitoring_variables(),
            **self.backup_variables(),
        }

    def backup_variables(self) -> dict[str, object]:
        """pgBackRest's files under the root: the repository is a local path here, as on
        inventory/local (the deploy warns that it is not off-host)."""
        root = self.root
        return {
            "goalgpt_pgbackrest_conf_dir": f"{root}/etc/pgbackrest",
            "goalgpt_backup_exporter_port": self.backup_exporter_port,
            "pgbackrest_repo_path": f"{root}/pgbackrest/repo",
            "pgbackrest_spool_path": f"{root}/pgbackrest/spool",
            "pgbackrest_log_path": f"{root}/log/pgbackrest",
            "pgbackrest_tools_dir": f"{root}/opt/goalgpt-backup",
        }

    def pgbackrest(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """`pgbackrest --config-path=... --stanza=goalgpt ARGS` as postgres, as the docs show."""
        command = [
            "runuser",
            "-u",
            "postgres",
            "--",
            "pgbackrest",
            f"--config-path={self.root}/etc/pgbackrest",
            "--stanza=goalgpt",
            *args,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

    def monitoring_variables(self) -> dict[str, object]:
        root = self.root
        return {
            "prometheus_port": self.prometheus_port,
            "prometheus_conf_dir": f"{root}/etc/prometheus",
            "prometheus_data_dir": f"{root}/prometheus",
            "prometheus_scrape_interval": "2s",
            "prometheus_evaluation_interval": "2s",
            "alertmanager_port": self.alertmanager_port,
            "alertmanager_conf_dir": f"{root}/etc/alertmanager",
            "alertmanager_data_dir": f"{root}/alertmanager",
            "alertmanager_alert_log_port": self.alert_log_port,
            "alertmanager_alert_log": str(self.alert_log),
            "alertmanager_alert_log_dir": f"{root}/opt/alert-log",
            "alertmanager_group_wait": "1s",
            "goalgpt_postgres_exporter_port": self.postgres_exporter_port,
            "postgres_exporter_conf_dir": f"{root}/etc/postgres-exporter",
            "redis_exporter_conf_dir": f"{root}/etc/redis-exporter",
            "goalgpt_redis_cache_exporter_port": self.redis_exporter_port,
            "goalgpt_redis_queue_exporter_port": self.redis_queue_exporter_port,
            "goalgpt_pgbouncer_exporter_port": self.pgbouncer_exporter_port,
            # Never /etc/goalgpt or /opt on this machine (a deployment of its own may be there).
            "pgbouncer_exporter_conf_dir": f"{root}/etc/pgbouncer-exporter",
            "pgbouncer_exporter_dir": f"{root}/opt/pgbouncer-exporter",
        }

    def playbook(self, name: str, *args: str, timeout: float = 900) -> PlaybookRun:
        """Run playbooks/<name> on inventory/local with this deployment's variables."""
        return run_playbook(self.inventory, name, *args, timeout=timeout)

    @property
    def checks_env_file(self) -> Path:
        return self.root / "etc" / "goalgpt" / "checks.env"

    def checks_env(self) -> dict[str, str]:
        """The operator checks' environment as deployed (monitoring role, app URLs)."""
        return self.env(self.checks_env_file)

    @property
    def secrets_dir(self) -> Path:
        """The controller's store of secrets of this deployment (beside its inventory)."""
        return self.root / "secrets"

    def secret(self, name: str) -> str:
        """A secret's value in the store (group_vars/all/secrets.yml names them)."""
        return (self.secrets_dir / name).read_text().strip()

    def role_url(self, role: str) -> str:
        """The deployed URL of login role app, owner or monitor on PostgreSQL itself (not
        through PgBouncer, which DATABASE_URL names): DATABASE_URL's host and TLS settings,
        the db port, the role's user and its libpq password file on this host."""
        parts = urlsplit(self.env()["DATABASE_URL"])
        query = dict(parse_qsl(parts.query))
        query["passfile"] = query["passfile"].replace("db-app.pgpass", f"db-{role}.pgpass")
        user = {"app": "goalgpt", "owner": "goalgpt_owner", "monitor": "goalgpt_monitor"}[role]
        netloc = f"{user}@{parts.hostname}:{self.pg_port}"
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="/")))

    def env(self, path: Path | None = None) -> dict[str, str]:
        """The service environment as deployed (the env file, parsed)."""
        values = {}
        for line in (path or self.env_file).read_text().splitlines():
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

    def service_pids(self) -> dict[str, int]:
        """supervisord's program -> pid for the web app, the workers and rq cron."""
        pids = {}
        for line in self.supervisorctl("status").stdout.splitlines():
            name, _, rest = line.partition(" ")
            if name.startswith(SERVICE_PROGRAMS) and " pid " in rest:
                pids[name] = int(rest.split(" pid ")[1].split(",")[0])
        return pids

    def teardown(self) -> None:
        """Remove everything the deployment made; safe to call on a half-made one."""
        if self.supervisor_conf.exists():
            self.supervisorctl("shutdown")
            self._wait_gone(self.root / "run" / "supervisor" / "supervisord.pid")
        drop_cluster(PG_VERSION, self.cluster)
        subprocess.run(["userdel", self.user], capture_output=True, timeout=30)
        subprocess.run(["groupdel", self.user], capture_output=True, timeout=30)
        remove_scratch(self.root)

    @staticmethod
    def _wait_gone(pidfile: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.2)


def run_playbook(
    inventory: Path, name: str, *args: str, timeout: float = 900, under: Sequence[str] = ()
) -> PlaybookRun:
    """playbooks/<name> on `inventory` with the venv's ansible-playbook, uncoloured;
    `under` is a command line that runs it (it ends with its argv, as `exec "$@"`)."""
    argv = [
        *under,
        str(Path(sys.executable).parent / "ansible-playbook"),
        str(REPO / "playbooks" / name),
        "-i",
        str(inventory),
        *args,
    ]
    env = os.environ | {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1"}
    # A session of its own: Linux's autogroup scheduler gives each session an equal
    # share of the CPU, so the run no longer splits one share with every other test of
    # its pytest session (the lab's hosts already boot in sessions of their own). Its
    # forked workers die with it when the test is stopped or times out.
    with subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as run:
        try:
            output, _ = run.communicate(timeout=timeout)
        except BaseException:
            os.killpg(run.pid, signal.SIGKILL)
            raise
    return PlaybookRun(run.returncode, output)
