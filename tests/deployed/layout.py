"""Where a deployment put things: inventory variables over the roles' defaults."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.support.roles import resolved, role_defaults, shared_vars

# Layout field -> the inventory variable that sets it (its default: the role's).
VARIABLES = {
    "user": "goalgpt_base_user",
    "home": "goalgpt_base_home",
    "config_dir": "goalgpt_base_config_dir",
    "web_bind": "goalgpt_base_web_bind",
    "web_port": "goalgpt_base_web_port",
    "web_workers": "goalgpt_base_web_workers",
    "workers": "goalgpt_workers_count",
    "db_max_connections": "goalgpt_base_db_max_connections",
    "redis_cache_port": "redis_cache_port",
    "redis_queue_port": "redis_queue_port",
    "redis_conf_dir": "redis_conf_dir",
    "redis_cache_password_file": "redis_cache_password_file",
    "redis_queue_password_file": "redis_queue_password_file",
    "tls_dir": "goalgpt_tls_dir",
    "postgresql_port": "postgresql_port",
    "supervisor_venv": "supervisor_venv",
    "supervisor_conf_dir": "supervisor_conf_dir",
    "web_service": "goalgpt_app_service_name",
    "worker_service": "goalgpt_workers_service_name",
    "cron_service": "goalgpt_workers_cron_service_name",
    "prometheus_port": "prometheus_port",
    "alertmanager_port": "alertmanager_port",
    "pgbouncer_conf_dir": "pgbouncer_conf_dir",
    "backup_conf_dir": "goalgpt_pgbackrest_conf_dir",
    "backup_stanza": "goalgpt_backup_stanza",
    "backup_repo_user": "pgbackrest_repo_user",
    "backup_service": "pgbackrest_backup_service_name",
}
# Layout field -> the variable of the path the roles derive from others (goalgpt_base's
# release layout, the fleet's CA): read from them, as a deploy renders it.
PATHS = {
    "current": "goalgpt_base_current",
    "releases": "goalgpt_base_releases_dir",
    "venv": "goalgpt_base_venv",
    "env_file": "goalgpt_base_env_file",
    "ca_file": "goalgpt_tls_ca_file",
}
WHOLE_NUMBERS = (
    "web_port",
    "web_workers",
    "workers",
    "db_max_connections",
    "redis_cache_port",
    "redis_queue_port",
    "postgresql_port",
    "prometheus_port",
    "alertmanager_port",
)


@dataclass(frozen=True)
class Layout:
    groups: tuple[str, ...]
    service_address: str
    user: str
    home: str
    config_dir: str
    web_bind: str
    web_port: int
    web_workers: int
    workers: int
    db_max_connections: int
    redis_cache_port: int
    redis_queue_port: int
    redis_conf_dir: str
    redis_cache_password_file: str
    redis_queue_password_file: str
    tls_dir: str
    postgresql_port: int
    supervisor_venv: str
    supervisor_conf_dir: str
    web_service: str
    worker_service: str
    cron_service: str
    prometheus_port: int
    alertmanager_port: int
    pgbouncer_conf_dir: str
    backup_conf_dir: str
    backup_stanza: str
    backup_repo_user: str
    backup_service: str
    current: str
    releases: str
    venv: str
    env_file: str
    ca_file: str

    @classmethod
    def from_variables(cls, found: Mapping[str, Any]) -> Layout:
        """The host's inventory variables over the roles' defaults (templated ones aside)."""
        defaults = role_defaults(rendered_only=True) | shared_vars(rendered_only=True)
        variables = defaults | dict(found)
        given = {field: variables[var] for field, var in VARIABLES.items() if var in variables}
        for field in WHOLE_NUMBERS:
            given[field] = int(given[field])
        unrendered = role_defaults() | shared_vars() | dict(found)
        given |= {field: resolved(var, unrendered) for field, var in PATHS.items()}
        given["service_address"] = _service_address(found)
        if "{{" in str(given.get("web_bind", "{{")):
            given["web_bind"] = given["service_address"]
        return cls(groups=tuple(found.get("group_names", ())), **given)

    @property
    def env_wrapper(self) -> str:
        # No variable names it: roles/goalgpt_base/tasks/env.yml writes it there.
        return f"{self.home}/bin/goalgpt-env"

    @property
    def python(self) -> str:
        return f"{self.venv}/bin/python"

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.web_bind in ("0.0.0.0", "::") else self.web_bind
        return f"http://{host}:{self.web_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{self.service_address}:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://{self.service_address}:{self.alertmanager_port}"

    def pgbackrest(self, user: str, *args: str) -> str:
        """pgBackRest as the docs show it, as `user` (a shell command line)."""
        return shlex.join(
            [
                "runuser",
                "-u",
                user,
                "--",
                "pgbackrest",
                f"--config-path={self.backup_conf_dir}",
                f"--stanza={self.backup_stanza}",
                *args,
            ]
        )

    @property
    def supervisorctl(self) -> str:
        return f"{self.supervisor_venv}/bin/supervisorctl"

    @property
    def supervisor_conf(self) -> str:
        return f"{self.supervisor_conf_dir}/supervisord.conf"


def _service_address(found: Mapping[str, Any]) -> str:
    """playbooks/group_vars/all/main.yml's goalgpt_service_address (testinfra reads only the
    inventory): set per host, else loopback under connection=local, else ansible_host."""
    given = found.get("goalgpt_service_address")
    if given and "{{" not in str(given):
        return str(given)
    if found.get("ansible_connection") == "local":
        return "127.0.0.1"
    return str(found.get("ansible_host") or found.get("inventory_hostname", "127.0.0.1"))
