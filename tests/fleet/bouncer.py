"""PgBouncer on the lab's db-1, read and bent from outside: its journal, its exporter,
its settings changed with a reload (and put back), the workers paused meanwhile."""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client.parser import text_string_to_metric_families

from tests.fleet.hosts import on, sudo
from tests.lab import Lab
from tests.support.pgbouncer import logins
from tests.support.waiting import wait_for

HOST = "db-1"  # the lab's pgbouncer group
UNIT = "goalgpt-pgbouncer"
INI = "/etc/goalgpt/pgbouncer/pgbouncer.ini"
EXPORTER_PORT = 9127  # goalgpt_pgbouncer_exporter_port
# What the exporter shows of each setting a test changes.
SHOWN_AS = {
    "max_client_conn": "pgbouncer_config_max_client_connections",
    "default_pool_size": "pgbouncer_databases_pool_size",
    "reserve_pool_size": "pgbouncer_databases_reserve_pool",
    "max_db_connections": "pgbouncer_databases_max_connections",
}
REFUSED = ("no more connections allowed (max_client_conn)", "query_wait_timeout")
# The firewall lets only the monitoring hosts reach the exporter: it is read on its own
# host (to its own address: loopback), with the Python every lab host has.
FETCH = (
    "import sys, urllib.request; "
    "print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
)


def main_pid(lab: Lab) -> int:
    return int(on(lab, HOST, f"systemctl show -p MainPID --value {UNIT}"))


def metrics(lab: Lab) -> dict[str, float]:
    """The exporter's samples by name (the app database's pool; one of each here)."""
    address = f"http://{lab.address(HOST)}:{EXPORTER_PORT}/metrics"
    text = on(lab, HOST, f"python3 -c {shlex.quote(FETCH)} {address}")
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def journal_since(lab: Lab, since: float) -> str:
    """PgBouncer's log lines since `since` (a time.time())."""
    return sudo(lab, HOST, f"journalctl -u {UNIT} --no-pager -o cat --since @{int(since)}")


def app_logins_since(lab: Lab, since: float) -> dict[str, set[str]]:
    """The app role's logins to PgBouncer since `since`: client address -> the TLS
    versions they used ("no" without)."""
    found: dict[str, set[str]] = {}
    for address, tls in logins(journal_since(lab, since)):
        found.setdefault(address, set()).add(tls)
    return found


def refusals_since(lab: Lab, since: float) -> int:
    """Clients PgBouncer refused or threw out since `since`, from its own log."""
    lines = journal_since(lab, since).splitlines()
    return sum(1 for line in lines for why in REFUSED if f"closing because: {why}" in line)


@contextmanager
def reloaded_with(lab: Lab, **settings: int) -> Iterator[None]:
    """PgBouncer with `settings` changed in its ini and applied by a reload (the same
    process, seen by its exporter); the file put back and reloaded at the end."""
    before = main_pid(lab)
    on(lab, HOST, f"sudo cp -p {INI} {INI}.test")
    try:
        edits = " ".join(f"-e 's/^{k} = .*/{k} = {v}/'" for k, v in settings.items())
        on(lab, HOST, f"sudo sed -i {edits} {INI} && sudo systemctl reload {UNIT}")
        _wait_shown(lab, settings)
        assert main_pid(lab) == before, "a reload must not restart PgBouncer"
        yield
    finally:
        on(lab, HOST, f"sudo mv {INI}.test {INI} && sudo systemctl reload {UNIT}")
        wait_for(lambda: metrics(lab).get("pgbouncer_up") == 1, 30, "PgBouncer reloaded back")


def _wait_shown(lab: Lab, settings: dict[str, int]) -> None:
    def shown() -> bool:
        now = metrics(lab)
        return all(now.get(SHOWN_AS[k]) == v for k, v in settings.items() if k in SHOWN_AS)

    wait_for(shown, 30, f"PgBouncer to show {settings} after the reload", every=0.5)


@contextmanager
def workers_stopped(lab: Lab) -> Iterator[None]:
    """No job touches the database meanwhile: every rq worker stopped (each lets its
    running job finish), started again at the end; `rq cron` keeps queueing."""
    units = {}
    for host in lab.groups["workers"]:
        listed = on(lab, host, "systemctl list-units 'goalgpt-worker@*' --plain --no-legend")
        units[host] = [line.split()[0] for line in listed.splitlines() if line.strip()]
    try:
        for host, names in units.items():
            on(lab, host, f"sudo systemctl stop {' '.join(names)}")
        yield
    finally:
        for host, names in units.items():
            on(lab, host, f"sudo systemctl start {' '.join(names)}")


def now() -> float:
    """A time.time() for journal_since, one second back (its --since is whole seconds)."""
    return time.time() - 1
