"""TLS and secrets on one host (inventory/local's layout, the e2e deployment): every
session of the app, the jobs and the checks is TLS (through PgBouncer on both of its
sides); plain text is refused even with the right password, and a wrong host name fails
verification; both Redis instances refuse plain text; no secret is in the env files,
the deploy's output, a log file or a process of the deployment; the cache Redis'
password rotates under traffic with no failed request. (Its firewall:
tests/integration/test_firewall_netns.py, in a namespace.)"""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from app.infra import redis_client
from checks import dbconnect
from tests.support.deployment import Deployment, PlaybookRun
from tests.support.leftovers import processes_of
from tests.support.pgbouncer import logins
from tests.support.traffic import concurrent_requests
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRETS = ("db_app", "db_owner", "db_monitor", "redis_cache", "redis_queue")
ROLES = ("goalgpt", "goalgpt_owner", "goalgpt_monitor")


@pytest.fixture(scope="module")
def deployed(first_deploy: PlaybookRun, deployment: Deployment) -> Deployment:
    assert first_deploy.returncode == 0, first_deploy.tail()
    return deployment


def test_every_session_of_the_app_the_jobs_and_the_checks_is_tls(deployed):
    wait_for(lambda: status(deployed, "/readyz") == 200, 30, "/readyz 200")
    with dbconnect.connect(deployed.role_url("monitor")) as checks:
        rows = checks.execute(
            "SELECT a.usename, a.application_name, s.ssl FROM pg_stat_activity a "
            "JOIN pg_stat_ssl s USING (pid) WHERE a.usename = ANY(%s)",
            [list(ROLES)],
        ).fetchall()
    apps = {app for _, app, _ in rows}
    # The checks connect directly; PgBouncer's server sessions carry the name of the
    # client last served on each (the web's and the jobs' are checked below).
    assert "goalgpt-checks" in apps, rows
    assert all(ssl for *_, ssl in rows), rows
    log = Path(deployed.variables()["postgresql_log_file"]).read_text()
    authorized = [
        line for line in log.splitlines() if "connection authorized: user=goalgpt" in line
    ]
    assert authorized and all("SSL enabled" in line for line in authorized), authorized[:3]

    # The web and the jobs reach PostgreSQL through PgBouncer: every login there used
    # TLS (its log). The web's pools are open by now: a login after this point is a
    # job's (one connects each minute); wait for one so the jobs' side is in the log.
    bouncer_log = Path(deployed.variables()["supervisor_log_dir"]) / "goalgpt-pgbouncer.log"
    before = len(logins(bouncer_log.read_text()))
    seen = wait_for(
        lambda: (found := logins(bouncer_log.read_text()))[before:] and found,
        90,
        "a job's login to PgBouncer",
    )
    assert all(tls in TLS_VERSIONS for _, tls in seen), seen


TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")  # PgBouncer logs tls=<version>/<cipher>


def status(deployment: Deployment, path: str) -> int:
    try:
        with urllib.request.urlopen(f"{deployment.base_url}{path}", timeout=5) as answer:
            return answer.status
    except OSError:
        return 0


def redis_errors(deployment: Deployment) -> float:
    with urllib.request.urlopen(f"{deployment.base_url}/metrics", timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    return sum(
        float(line.split()[-1]) for line in lines if line.startswith("goalgpt_redis_errors_total")
    )


def test_plain_text_with_the_right_password_is_refused(deployed):
    direct = deployed.role_url("app")
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(direct, sslmode="disable")
    url = deployed.env()["DATABASE_URL"]  # through PgBouncer, TLS only on its side too
    with pytest.raises(psycopg.OperationalError, match="SSL required"):
        psycopg.connect(url, sslmode="disable")
    for verified in (direct, url):  # the URLs as deployed: TLS, verified
        with psycopg.connect(verified) as conn:
            assert conn.info.parameter_status("server_version")


@pytest.mark.parametrize("through", ["postgresql", "pgbouncer"])
def test_verify_full_against_a_wrong_host_name_fails(deployed, through):
    url = deployed.role_url("app") if through == "postgresql" else deployed.env()["DATABASE_URL"]
    with pytest.raises(psycopg.OperationalError, match=r'does not match host name "db\.invalid"'):
        psycopg.connect(url, host="db.invalid", hostaddr="127.0.0.1")


@pytest.mark.parametrize("name", ["REDIS_URL", "RQ_REDIS_URL"])
def test_redis_refuses_plain_text_and_answers_the_apps_client_over_tls(deployed, name):
    url = deployed.env()[name]
    parts = urlsplit(url)
    assert parts.scheme == "rediss" and "ssl_ca_certs=" in parts.query
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as plain:
        plain.sendall(b"PING\r\n")
        try:
            answer = plain.recv(100)
        except ConnectionResetError:
            answer = b""
    assert b"PONG" not in answer and not answer.startswith(b"-NOAUTH")
    assert redis_client.client(url, connect_timeout_s=5).ping()


def secret_values(deployment: Deployment) -> dict[str, str]:
    return {name: deployment.secret(name) for name in SECRETS}


def test_no_secret_in_the_env_files_the_output_the_logs_or_a_process(
    deployed, first_deploy, second_deploy
):
    secrets = secret_values(deployed)
    texts = {
        "goalgpt.env": deployed.env_file.read_text(),
        "checks.env": deployed.checks_env_file.read_text(),
        "the first deploy's output": first_deploy.output,
        "the second deploy's output (-vvv)": second_deploy.output,
    }
    for top in ("log", "pglog"):
        for path in (deployed.root / top).rglob("*"):
            if path.is_file():
                texts[str(path)] = path.read_text(errors="replace")
    for pid in processes_of(deployed.root):
        for part in ("cmdline", "environ"):
            try:
                texts[f"/proc/{pid}/{part}"] = (
                    Path(f"/proc/{pid}/{part}").read_bytes().decode(errors="replace")
                )
            except OSError:
                continue
    assert any(key.startswith("/proc/") for key in texts)
    found = [
        f"{name} in {where}"
        for where, text in texts.items()
        for name, value in secrets.items()
        if value in text
    ]
    assert not found, found


def test_the_password_files_are_0600_and_the_store_0700(deployed):
    store = deployed.secrets_dir
    assert store.stat().st_mode & 0o777 == 0o700
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in store.iterdir() if p.is_file())
    on_host = Path(deployed.variables()["goalgpt_base_config_dir"]) / "secrets"
    for path in on_host.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
    key = Path(deployed.variables()["goalgpt_tls_dir"]) / "postgresql.key"
    assert (key.stat().st_mode & 0o777, key.owner()) == (0o600, "postgres")
    assert (
        key.with_name("redis.key").owner(),
        os.stat(key.with_name("redis.key")).st_mode & 0o777,
    ) == ("redis", 0o600)


def test_the_cache_redis_password_rotates_under_traffic_with_no_failed_request(deployed):
    old = deployed.secret("redis_cache")
    checks_env = deployed.checks_env_file.read_text()
    failures: list[str] = []
    errors_before = redis_errors(deployed)
    with concurrent_requests(deployed.base_url, clients=4, failures=failures):
        run = deployed.playbook("rotate_secrets.yml", "-e", "secret=redis_cache")
    assert run.returncode == 0, run.tail()
    # Password files only: the checks keep the fleet the deploy described for them.
    assert deployed.checks_env_file.read_text() == checks_env
    assert "GOALGPT_FLEET_FILE" in deployed.checks_env()
    assert failures == [], failures[:5]
    # The web serves without Redis too: what says the cache never failed is its counter.
    assert redis_errors(deployed) == errors_before
    new = deployed.secret("redis_cache")
    assert new != old and old not in run.output and new not in run.output
    url = deployed.env()["REDIS_URL"]
    assert redis_client.client(url, connect_timeout_s=5).ping()
    parts = urlsplit(url)
    stale = (
        f"rediss://:{old}@{parts.hostname}:{parts.port}/0?{parts.query.split('&password_file')[0]}"
    )
    with pytest.raises(Exception, match=r"WRONGPASS|invalid username-password"):
        redis_client.client(stale, connect_timeout_s=5).ping()
