"""Our PgBouncer exporter, run as deployed (the system python3 and Debian's psycopg, the
file alone), against a real PgBouncer: what Prometheus scrapes is what SHOW says."""

from __future__ import annotations

import signal
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.checks import MONITOR_PASSWORD
from tests.support.pgbouncer import clients_waiting
from tests.support.processes import start_in_own_group, stop_group
from tests.support.servers import free_port
from tests.support.waiting import wait_for

EXPORTER = Path(__file__).resolve().parents[2] / "checks" / "pgbouncer_exporter.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def scrape(url: str) -> dict[str, float]:
    """name{labels} -> value, labels sorted, the console's own pool never among them."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        s.name + "".join(f",{k}={v}" for k, v in sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def exporter(tmp_path) -> Iterator[Callable[[int], str]]:
    """Start the exporter on PgBouncer at 127.0.0.1:<port>; returns its /metrics URL."""
    started = []
    password = tmp_path / "password"
    password.write_text(MONITOR_PASSWORD + "\n")

    def start(bouncer_port: int, ca_file: Path) -> str:
        listen = free_port()
        argv = [SYSTEM_PYTHON, str(EXPORTER), "--listen", f"127.0.0.1:{listen}"]
        argv += ["--pgbouncer", f"127.0.0.1:{bouncer_port}", "--user", "monitor"]
        argv += ["--password-file", str(password), "--ca-file", str(ca_file)]
        started.append(start_in_own_group(argv, tmp_path / "exporter.log"))
        url = f"http://127.0.0.1:{listen}/metrics"
        wait_for(lambda: _answers(url), 10, "the exporter to listen")
        return url

    yield start
    for process in started:
        stop_group(process, signal.SIGTERM, timeout=10)


def _answers(url: str) -> bool:
    try:
        scrape(url)
        return True
    except OSError:
        return False


def test_waiting_clients_and_both_layers_are_exported(capacity_bouncer, bouncer_urls, exporter):
    url = exporter(capacity_bouncer.port, capacity_bouncer.tls_files.ca)
    pooled_url, console_url = bouncer_urls

    with clients_waiting(pooled_url, console_url, 3):
        during = scrape(url)
    after = scrape(url)

    pool = ",database=postgres,user=pooled"
    assert during["pgbouncer_up"] == 1
    assert during["pgbouncer_pools_client_waiting_connections" + pool] == 3
    assert during["pgbouncer_pools_server_active_connections" + pool] == 1
    assert during["pgbouncer_pools_client_maxwait_seconds" + pool] >= 0
    assert during["pgbouncer_databases_max_connections,database=postgres"] == 1
    assert during["pgbouncer_config_max_client_connections"] == 100
    assert during["pgbouncer_lists_used_clients"] >= 4  # the holder and three waiting
    assert after["pgbouncer_pools_client_waiting_connections" + pool] == 0
    assert not [k for k in during if "database=pgbouncer" in k]  # the console's own pool


def test_a_bouncer_that_does_not_answer_is_up_0_not_a_failed_scrape(exporter, tmp_path):
    url = exporter(free_port(), tmp_path / "ca.crt")  # nothing listens there

    assert scrape(url) == {"pgbouncer_up": 0}


def test_help_and_a_bad_address_are_one_line_answers():
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SYSTEM_PYTHON, str(EXPORTER), *args], capture_output=True, text=True)

    helped = run("--help")
    bad = run(
        *("--listen", "nowhere", "--pgbouncer", "127.0.0.1:1"),
        *("--user", "u", "--password-file", "/dev/null", "--ca-file", "/dev/null"),
    )

    assert helped.returncode == 0 and "SHOW POOLS" in helped.stdout
    assert bad.returncode == 2
    assert "--listen must be ADDRESS:PORT, got 'nowhere'" in bad.stderr
    assert "Traceback" not in bad.stderr
