"""The deployed services: processes, ports, the env file, the pool size, /readyz."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.deployed import http
from tests.deployed.layout import Layout

CRON = "-m app.jobs.cron"  # the fleet's one rq cron (roles/goalgpt_workers)


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    args: str


def processes(host, layout: Layout, needle: str) -> list[Process]:
    """The service user's processes of this deployment (run from its home) whose command
    line contains `needle`, in one snapshot (work horses come and go every minute: asking
    ps again per process races them). A lab's hosts share this machine's process table
    and may give their service user the same uid: their programs live elsewhere."""
    listing = host.check_output(f"ps -ww -u {layout.user} -o pid=,ppid=,args=")
    found = []
    for line in listing.splitlines():
        pid, ppid, args = line.split(None, 2)
        if needle in args and f" {layout.home}/" in f" {args}":
            found.append(Process(int(pid), int(ppid), args))
    return found


def environ(host, pid: int) -> dict[str, str] | None:
    """The process's environment; None if it ended meanwhile (a finished work horse)."""
    answer = host.run(f"tr '\\0' '\\n' < /proc/{pid}/environ")
    if answer.rc != 0:
        return None
    return dict(line.split("=", 1) for line in answer.stdout.splitlines() if "=" in line)


def needs(layout: Layout, *groups: str) -> None:
    """Skip unless the host is in one of `groups`."""
    if not set(groups) & set(layout.groups):
        pytest.skip(f"not in group {' or '.join(groups)}")


def test_gunicorn_runs_a_master_and_its_workers(host, layout):
    needs(layout, "app")
    gunicorns = processes(host, layout, "gunicorn")
    masters = [p for p in gunicorns if p.ppid not in {g.pid for g in gunicorns}]
    assert len(masters) == 1, [p.args for p in gunicorns]
    children = [p for p in gunicorns if p.ppid == masters[0].pid]
    assert len(children) == layout.web_workers


def test_rq_workers_run(host, layout):
    needs(layout, "workers")
    workers = [p for p in processes(host, layout, "rq worker") if "--worker-class" in p.args]
    listeners = [p for p in workers if p.ppid not in {w.pid for w in workers}]
    assert len(listeners) == layout.workers, [p.args for p in workers]


def test_exactly_one_rq_cron_runs_in_the_fleet(fleet, layout):
    crons = []
    for worker_host in fleet.workers:
        crons += [p.args for p in processes(worker_host, layout, CRON)]
    assert crons, (
        "no rq cron runs in the fleet: no scheduled job is queued. Start goalgpt-cron on the "
        "cron host (the first worker host): docs/runbooks/rq-cron-missing.md"
    )
    assert len(crons) == 1, f"{len(crons)} rq cron run in the fleet: {crons}"


def test_the_web_port_listens(host, layout):
    needs(layout, "app")
    assert host.socket(f"tcp://{layout.web_bind}:{layout.web_port}").is_listening


def listening_addresses(host, port: int | str) -> set[str]:
    """The addresses the host listens on with TCP port `port`."""
    suffix = f":{port}"
    return {
        socket.removeprefix("tcp://").removesuffix(suffix)
        for socket in host.socket.get_listening_sockets()
        if socket.startswith("tcp://") and socket.endswith(suffix)
    }


def test_postgresql_listens_on_its_service_address_only(host, layout):
    needs(layout, "db")
    assert listening_addresses(host, layout.postgresql_port) == {layout.service_address}


def test_env_file_is_private_to_the_service_user(host, layout):
    needs(layout, "app", "workers")
    env_file = host.file(layout.env_file)
    assert env_file.is_file
    assert env_file.mode == 0o600
    assert env_file.user == layout.user


def test_env_file_holds_the_configured_pool_size(host, layout):
    needs(layout, "app", "workers")
    content = host.file(layout.env_file).content_string
    assert f'DB_MAX_CONNECTIONS="{layout.db_max_connections}"' in content.splitlines()


def test_every_process_runs_with_the_configured_pool_size(host, layout):
    needs(layout, "app", "workers")
    pids = [p.pid for p in processes(host, layout, "gunicorn")]
    pids += [p.pid for p in processes(host, layout, "rq ") + processes(host, layout, CRON)]
    assert pids
    environs = {pid: environ(host, pid) for pid in pids}
    sizes = {pid: env.get("DB_MAX_CONNECTIONS") for pid, env in environs.items() if env is not None}
    assert set(sizes.values()) == {str(layout.db_max_connections)}, sizes


def test_readyz_answers_ready(host, layout):
    needs(layout, "app")
    # Retried briefly: a restart may have just happened.
    assert http.get_json(host, f"{layout.base_url}/readyz", tries=6)["status"] == "ready"


def test_no_service_is_left_failed(host, layout):
    """systemd: no failed unit (e.g. a package's own exporter unit that failed at install
    leaves the host "degraded" for whoever reads `systemctl is-system-running`);
    supervisord: every program RUNNING."""
    if host.file("/run/systemd/system").is_directory:
        failed = host.check_output("systemctl list-units --failed --plain --no-legend")
    else:
        status = host.run(f"{layout.supervisorctl} -c {layout.supervisor_conf} status")
        lines = status.stdout.splitlines()
        assert lines, status.stderr
        failed = "\n".join(line for line in lines if " RUNNING " not in line)
    assert failed == "", failed
