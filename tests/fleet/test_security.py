"""Only who must, on the fleet lab (issue 23), on the session's one fleet deployment:
every host reaches every listener of every other host exactly as the table of flows
says and the controller keeps SSH; a firewall that would shut out the deploy is
refused; every PostgreSQL session is TLS, plain text is refused even with the right
password and a wrong host name fails verification; both Redis instances refuse
plain text; no secret is in the -vvv deploy, in any log file or process of any host;
the database password rotates under traffic with no failed request.

Runs last (file order), on what the other fleet tests leave; puts back what it changes."""

from __future__ import annotations

import ast
import json
import shlex
import subprocess
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from plugins.filter.goalgpt_flows import goalgpt_flow_allows
from tests.fleet import bouncer
from tests.fleet.hosts import client_on, main_pids, on, playbook, report
from tests.lab.inventory import ssh_argv
from tests.support.connects import connects
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ENV = "/opt/goalgpt/bin/goalgpt-env"
PYTHON = "/opt/goalgpt/current/venv/bin/python"
CHECKS_APP = "goalgpt-checks"  # app/infra/names.py CHECKS
ROLES = ("goalgpt", "goalgpt_owner", "goalgpt_monitor")  # roles/postgresql


@pytest.fixture(scope="module")
def fleet(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0, first_fleet_deploy.run.tail()
    return lab


@pytest.fixture(scope="module")
def rules(fleet, tmp_path_factory) -> dict[str, dict]:
    """host -> {address, rules}: the table of flows as playbooks/flows.yml resolves it."""
    out = tmp_path_factory.mktemp("flows") / "flows.json"
    run = playbook(fleet, "flows.yml", "-e", f"flows_json={out}", timeout=300)
    assert run.returncode == 0, run.tail()
    return {entry["host"]: entry for entry in json.loads(out.read_text())}


def listeners(lab, host: str) -> set[int]:
    """The TCP ports host listens on beyond loopback (`ss`, from inside)."""
    ports = set()
    for line in on(lab, host, "ss -Hltn").splitlines():
        local = line.split()[3]
        address, _, port = local.rpartition(":")
        if address.strip("[]").startswith(("127.", "::1")):
            continue
        ports.add(int(port))
    return ports


def each_host(lab, action):
    with ThreadPoolExecutor(len(lab.hosts)) as pool:
        return dict(zip(lab.hosts, pool.map(action, lab.hosts), strict=True))


def test_every_host_reaches_another_hosts_listener_iff_the_table_lets_it(fleet, rules):
    started = time.monotonic()
    ports = each_host(fleet, lambda host: listeners(fleet, host))
    served = {host: {rule["port"] for rule in rules[host]["rules"]} for host in fleet.hosts}
    missing = {host: sorted(served[host] - ports[host]) for host in fleet.hosts}
    assert not any(missing.values()), f"the table lets in ports nothing listens on: {missing}"

    def targets_of(source: str) -> list[tuple[str, int]]:
        return [
            (fleet.address(host), port)
            for host in fleet.hosts
            if host != source
            for port in sorted(ports[host])
        ]

    seen = each_host(
        fleet, lambda source: connects(ssh_argv(fleet.config, source), targets_of(source))
    )
    lines, wrong = [], []
    for source in fleet.hosts:
        for (address, port), opened in zip(targets_of(source), seen[source], strict=True):
            server = next(h for h in fleet.hosts if fleet.address(h) == address)
            allowed = goalgpt_flow_allows(rules[server]["rules"], fleet.address(source), port)
            mark = "open" if opened else "shut"
            lines.append(f"{source:>9} -> {server}:{port} {mark} (table: {allowed})")
            if opened != allowed:
                wrong.append(lines[-1])
    report(f"firewall matrix: {len(lines)} connects in {time.monotonic() - started:.1f} s")
    assert not wrong, "\n".join(["differs from the table:", *wrong, "whole matrix:", *lines])
    assert sum("open" in line for line in lines) >= 20


def test_the_controller_keeps_ssh_and_reaches_only_what_the_table_gives_it(fleet, rules):
    box = fleet.config.gateway
    for host in fleet.hosts:
        assert on(fleet, host, "true") == ""  # SSH from the controller, host key checked
        assert goalgpt_flow_allows(rules[host]["rules"], box, 22)
    db = rules["db-1"]["rules"]
    assert not goalgpt_flow_allows(db, box, 5432)
    assert goalgpt_flow_allows(rules["app-1"]["rules"], box, 8000)


def test_a_firewall_that_would_shut_out_the_deploy_is_refused_with_nothing_loaded(fleet):
    table = "sudo nft list table inet goalgpt | sha256sum"
    before = on(fleet, "app-2", table)
    run = playbook(
        fleet,
        "firewall.yml",
        "-l",
        "app-2",
        "-e",
        '{"goalgpt_firewall_controller_networks": ["192.0.2.0/24"]}',
        timeout=300,
    )
    assert run.returncode != 0
    assert f"this run connects from {fleet.config.gateway} to port 22" in run.output, run.tail()
    assert on(fleet, "app-2", table) == before


def sessions_by_tls(lab) -> dict[tuple[str, str, str], int]:
    sql = (
        "SELECT a.usename, a.application_name, s.ssl::text, count(*) FROM pg_stat_activity a "
        "JOIN pg_stat_ssl s USING (pid) WHERE a.usename IN "
        f"({', '.join(repr(r) for r in ROLES)}) GROUP BY 1, 2, 3"
    )
    out = on(lab, "db-1", f'sudo -u postgres psql -At -d goalgpt -c "{sql}"')
    rows = [line.split("|") for line in out.splitlines()]
    return {(user, app, tls): int(count) for user, app, tls, count in rows}


TLS_VERSIONS = frozenset({"TLSv1.2", "TLSv1.3"})  # PgBouncer logs tls=<version>/<cipher>


def test_every_session_of_the_app_the_jobs_and_the_checks_is_tls(fleet):
    # The checks' own connect, as the checks run it on an app host.
    checked = on(
        fleet,
        "app-1",
        f"sudo {ENV} {PYTHON} -c 'from checks import dbconnect; import os; "
        'c = dbconnect.connect(os.environ["GOALGPT_MONITOR_DSN"]); '
        'print(c.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")'
        ".fetchone())'",
    )
    assert checked.startswith("(True, 'TLSv1."), checked
    # PgBouncer's server sessions carry the name of the client last served on each.
    sessions = sessions_by_tls(fleet)
    assert sessions and all(tls == "true" for (_, _, tls) in sessions), sessions
    # Every connection the server has let in (log_connections): PgBouncer's among them.
    log = on(fleet, "db-1", "sudo cat /var/log/postgresql/postgresql-15-main.log")
    authorized = [
        line for line in log.splitlines() if "connection authorized: user=goalgpt" in line
    ]
    plain = [line for line in authorized if "SSL enabled" not in line]
    assert authorized and not plain, plain[:5]
    # The web and the jobs reach it through PgBouncer: every login of theirs there
    # (PgBouncer's log) used TLS. A worker host logs in when it runs a job (every minute).
    hosts = {fleet.address(h) for h in fleet.groups["app"] + fleet.groups["workers"]}
    since = time.time() - 3600

    def every_host_logged_in() -> dict[str, set[str]]:
        logins = bouncer.app_logins_since(fleet, since)
        return logins if hosts <= set(logins) else {}

    logins = wait_for(every_host_logged_in, 180, "a login to PgBouncer from every app/worker host")
    plain = {address: tls for address, tls in logins.items() if not tls <= TLS_VERSIONS}
    assert not plain, plain


@pytest.mark.parametrize(
    ("url", "refusal"),
    [
        ("GOALGPT_MONITOR_DSN", ("no pg_hba.conf entry", "no encryption")),  # PostgreSQL
        ("DATABASE_URL", ("SSL required",)),  # PgBouncer, in front of it for the app
    ],
)
def test_plain_text_with_the_right_password_is_refused(fleet, url, refusal):
    refused = on(
        fleet,
        "app-1",
        f"sudo {ENV} {PYTHON} -c 'import os, psycopg\ntry:\n"
        f'    psycopg.connect(os.environ["{url}"], sslmode="disable")\n'
        "except psycopg.OperationalError as exc:\n    print(exc)'",
    )
    assert all(words in refused for words in refusal), refused


def test_verify_full_against_a_wrong_host_name_fails(fleet):
    failed = on(
        fleet,
        "app-1",
        f"sudo {ENV} {PYTHON} -c 'import os, psycopg\ntry:\n"
        '    psycopg.connect(os.environ["DATABASE_URL"], host="db-9.invalid",'
        f' hostaddr="{fleet.address("db-1")}")\n'
        "except psycopg.OperationalError as exc:\n    print(exc)'",
    )
    assert 'does not match host name "db-9.invalid"' in failed, failed
    right = on(
        fleet,
        "app-1",
        f"sudo {ENV} {PYTHON} -c 'import os, psycopg; "
        'print(psycopg.connect(os.environ["DATABASE_URL"], host="db-1",'
        f' hostaddr="{fleet.address("db-1")}").info.server_version > 0)\'',
    )
    assert right == "True"


@pytest.mark.parametrize("instance", ["REDIS_URL", "RQ_REDIS_URL"])
def test_redis_refuses_plain_text_and_serves_the_app_over_tls(fleet, instance):
    script = (
        "import os, socket, urllib.parse as u\n"
        f'url = u.urlsplit(os.environ["{instance}"])\n'
        "s = socket.create_connection((url.hostname, url.port), 5)\n"
        "s.sendall(b'PING\\r\\n')\n"
        "try:\n    print(repr(s.recv(100)))\nexcept OSError as exc:\n    print(exc)\n"
        "from app.infra.redis_client import client\n"
        f'print(client(os.environ["{instance}"], connect_timeout_s=5).ping())\n'
    )
    out = on(fleet, "app-1", f"sudo {ENV} {PYTHON} -c {shlex.quote(script)}").splitlines()
    assert out[0] in ("b''", "[Errno 104] Connection reset by peer"), out
    assert out[1] == "True", out


def test_the_workers_and_the_exporters_work_over_tls(fleet):
    workers = on(
        fleet,
        "worker-1",
        f"sudo {ENV} /opt/goalgpt/current/venv/bin/rq info --only-workers --raw",
    )
    assert workers.count("worker ") >= 4, workers  # 2 per worker host, over rediss://
    prometheus = f"http://{fleet.address('mon-1')}:9090/api/v1/query?query="  # the controller's
    for query, scrapes in (("redis_up", 2), ("pg_up", 1)):
        with urllib.request.urlopen(prometheus + query, timeout=10) as answer:
            found = json.load(answer)["data"]["result"]
        assert [r["value"][1] for r in found] == ["1"] * scrapes, (query, found)


# Python on an app host: when the certificate each server presents ends (as the app reads it).
CERT_ENDS = (
    "from app import config; from app.infra.tls_expiry import endpoints, not_after; "
    "from app.web.services import _tls_urls; "
    "print({e.name: not_after(e) for e in endpoints(_tls_urls(config.load()))})"
)
SERVER_PIDS = (
    "systemctl show -p MainPID --value postgresql@15-main goalgpt-redis-cache goalgpt-redis-queue"
)
BOUNCER_PID = "systemctl show -p MainPID --value goalgpt-pgbouncer"


def cert_ends(lab) -> dict[str, float]:
    out = on(lab, "app-1", f"sudo {ENV} {PYTHON} -c {shlex.quote(CERT_ENDS)}")
    return ast.literal_eval(out)


def test_tls_yml_renews_every_certificate_and_the_servers_load_it_live(fleet):
    before = cert_ends(fleet)
    pids = {host: on(fleet, host, SERVER_PIDS) for host in ("db-1", "redis-1")}
    bouncer_pid = on(fleet, "db-1", BOUNCER_PID)
    run = playbook(fleet, "tls.yml", "-e", "goalgpt_tls_renew=true", timeout=600)
    assert run.returncode == 0, run.tail()
    assert run.changed()["db-1"] > 0 and run.changed()["redis-1"] > 0, run.changed()
    after = cert_ends(fleet)
    # `postgres` is PgBouncer (DATABASE_URL), `postgres_server` PostgreSQL behind it.
    assert set(after) == {"postgres", "postgres_server", "redis", "queue_redis"}
    assert all(after[name] > before[name] for name in after), (before, after)
    assert {host: on(fleet, host, SERVER_PIDS) for host in pids} == pids  # no restart
    assert on(fleet, "db-1", BOUNCER_PID) == bouncer_pid


def secrets_of(lab) -> dict[str, str]:
    """Every secret of the lab's store on the controller, and the body of each TLS key."""
    store = lab.inventory_path.parent / "secrets"
    found = {p.name: p.read_text().strip() for p in store.iterdir() if p.is_file()}
    for key in (store / "tls").glob("*.key"):
        found[f"tls/{key.name}"] = key.read_text().splitlines()[1]
    return {name: value for name, value in found.items() if not name.startswith(".")}


# Root on a lab host: every log file, the journal, every process's command line and
# environment, searched for each secret read as JSON from stdin ({name: value}).
SCAN = """
import json, os, subprocess, sys
secrets = json.load(sys.stdin)
found = set()
def scan(where, data):
    found.update(f"{name} in {where}" for name, v in secrets.items() if v.encode() in data)
for top, _, files in os.walk("/var/log"):
    for name in files:
        try:
            scan(os.path.join(top, name), open(os.path.join(top, name), "rb").read())
        except OSError:
            pass
scan("the journal", subprocess.run(["journalctl", "-o", "cat"], capture_output=True).stdout)
for pid in filter(str.isdigit, os.listdir("/proc")):
    for part in ("cmdline", "environ"):
        try:
            scan(f"/proc/{pid}/{part}", open(f"/proc/{pid}/{part}", "rb").read())
        except OSError:
            pass
print(json.dumps(sorted(found)))
"""


def scan_host(lab, host: str, secrets: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [*ssh_argv(lab.config, host), f"sudo python3 -c {shlex.quote(SCAN)}"],
        input=json.dumps(secrets),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{host}: {done.stderr[-500:]}"
    return json.loads(done.stdout)


def test_no_secret_in_a_vvv_deploy_nor_in_any_log_or_process_of_any_host(
    fleet, second_fleet_deploy
):
    secrets = secrets_of(fleet)
    assert {"db_app", "db_owner", "db_monitor", "redis_cache", "redis_queue"} <= set(secrets)
    output = second_fleet_deploy.run.output
    assert "ESTABLISH SSH CONNECTION" in output  # it ran at -vvv
    shown = [name for name, value in secrets.items() if value in output]
    assert not shown, f"the -vvv deploy shows {shown}"
    # A value every host logs: the scan reads what it should (it can find something).
    control = {"(control)": "Reached target"}
    found = each_host(fleet, lambda host: scan_host(fleet, host, secrets | control))
    assert all("(control) in the journal" in hits for hits in found.values()), found
    leaked = {
        host: [h for h in hits if not h.startswith("(control)")] for host, hits in found.items()
    }
    assert not any(leaked.values()), leaked


def test_the_store_is_0600_files_in_a_0700_directory(fleet):
    store = fleet.inventory_path.parent / "secrets"
    assert store.stat().st_mode & 0o777 == 0o700
    for path in [*store.iterdir(), *(store / "tls").glob("*.key")]:
        if path.is_file():
            assert path.stat().st_mode & 0o777 == 0o600, path


def test_the_database_password_rotates_under_traffic_with_no_failed_request(fleet):
    store = fleet.inventory_path.parent / "secrets" / "db_app"
    old = store.read_text().strip()
    since = bouncer.now()
    pids = {host: main_pids(fleet, host) for host in fleet.groups["app"]}
    started = time.monotonic()
    with client_on(fleet, misses=True) as client:
        run = playbook(fleet, "rotate_secrets.yml", "-e", "secret=db_app")
    report(f"db_app rotation under traffic: {time.monotonic() - started:.0f} s")
    assert run.returncode == 0, run.tail()
    assert client.failed() == {}, (client.failed(), client.served())
    assert all(client.served().values()), client.served()
    new = store.read_text().strip()
    assert new != old and not store.with_name("db_app.next").exists()
    # The web's new workers met the switch at PgBouncer (it took the new verifier right
    # after PostgreSQL): the old password refused, the next line of the file taken.
    during = bouncer.journal_since(fleet, since)
    assert "closing because: SASL authentication failed" in during, during[-2000:]
    # Nothing restarted (the masters kept their PIDs; gunicorn only renewed its workers).
    assert {host: main_pids(fleet, host) for host in fleet.groups["app"]} == pids
    # The server takes the new password only (over TLS, from an app host).
    script = (
        "import os, sys, psycopg\n"
        "for password in sys.stdin.read().split():\n"
        "    try:\n"
        '        psycopg.connect(os.environ["DATABASE_URL"], password=password).close()\n'
        '        print("taken")\n'
        "    except psycopg.OperationalError:\n"
        '        print("refused")\n'
    )
    probe = f"sudo {ENV} {PYTHON} -c {shlex.quote(script)}"
    done = subprocess.run(
        [*ssh_argv(fleet.config, "app-1"), probe],
        input=f"{old}\n{new}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split() == ["refused", "taken"], done.stderr[-500:]
