"""What a lab host runs, read from outside: env files, process environments, releases,
and playbooks run against the lab (tests/fleet's change tests share these)."""

from __future__ import annotations

import json
import shlex
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.lab import Lab
from tests.support.deployment import REPO, PlaybookRun, run_playbook
from tests.support.gunicorn import get
from tests.support.waiting import wait_for

ENV_FILE = "/etc/goalgpt/goalgpt.env"
HOME = "/opt/goalgpt"
WEB_PORT = 8000
PROMETHEUS_PORT = 9090  # roles/prometheus, the lab inventory leaves it
# Every process of every running goalgpt service unit, one line each:
# unit pid value-of-$1 (or "unset"). The lab's hosts run cgroup v1 (systemd's own
# hierarchy under /sys/fs/cgroup/systemd); v2 is read too.
UNITS = (
    "systemctl list-units 'goalgpt-*' --type=service --state=running --plain --no-legend"
    " | awk '{print $1}'"
)
PROCESS_ENV = rf"""
for unit in $({UNITS}); do
  cgroup=$(systemctl show -p ControlGroup --value "$unit")
  for procs in "/sys/fs/cgroup$cgroup/cgroup.procs" "/sys/fs/cgroup/systemd$cgroup/cgroup.procs"; do
    [ -r "$procs" ] && break
  done
  for pid in $(cat "$procs"); do
    environ=$(tr '\0' '\n' 2>/dev/null < "/proc/$pid/environ") || continue  # it ended
    value=$(printf '%s\n' "$environ" | sed -n "s/^$1=//p")
    echo "$unit $pid ${{value:-unset}}"
  done
done
"""
MAIN_PIDS = (
    f'for unit in $({UNITS}); do echo "$unit $(systemctl show -p MainPID --value "$unit")"; done'
)


def playbook(lab: Lab, name: str, *args: str, timeout: float = 1800) -> PlaybookRun:
    """playbooks/<name> on the lab's inventory."""
    return run_playbook(lab.inventory_path, name, *args, timeout=timeout)


def sudo(lab: Lab, host: str, script: str, *args: str) -> str:
    """Run a shell script as root on host (args are its $1...); its stdout."""
    command = ["sudo", "sh", "-c", script, "sh", *args]
    done = lab.run(host, shlex.join(command), timeout=120)
    assert done.returncode == 0, f"{host}: {script[:200]}: {done.stderr.strip()[-500:]}"
    return done.stdout


def env_value(lab: Lab, host: str, name: str = "DB_MAX_CONNECTIONS") -> str:
    """name's value in host's env file."""
    line = sudo(lab, host, f"grep ^{name}= {ENV_FILE}")
    return line.strip().split("=", 1)[1].strip('"')


def process_env(lab: Lab, host: str, name: str = "DB_MAX_CONNECTIONS") -> dict[int, str]:
    """pid -> name's value in its environment ("unset" without it), for every goalgpt
    service process on host (one that ended meanwhile, e.g. a work horse, is left out)."""
    lines = sudo(lab, host, PROCESS_ENV, name).splitlines()
    found = {int(pid): value for _, pid, value in (line.split() for line in lines if line)}
    assert found, f"{host}: no goalgpt process runs"
    return found


def main_pids(lab: Lab, host: str) -> dict[str, int]:
    """unit -> its main PID, for every running goalgpt service unit on host."""
    lines = sudo(lab, host, MAIN_PIDS).splitlines()
    return {unit: int(pid) for unit, pid in (line.split() for line in lines if line)}


def release_link(lab: Lab, host: str, link: str = "current") -> str:
    """The release (directory name) a host's `current` or `previous` points at."""
    return sudo(lab, host, f"readlink {HOME}/{link}").strip().rsplit("/", 1)[-1]


def app_and_worker_hosts(lab: Lab) -> list[str]:
    return lab.groups["app"] + lab.groups["workers"]


def url(lab, host: str, path: str) -> str:
    return f"http://{lab.address(host)}:{WEB_PORT}{path}"


def status_of(address: str, timeout: float = 5) -> int:
    """The status of a GET of address; 0 when nothing answers."""
    try:
        return get(address, timeout).status
    except OSError:
        return 0


def wait_ready(lab, host: str, within_s: float) -> float:
    """Seconds until /readyz on host answers 200; fails after within_s."""
    started = time.monotonic()
    ready = url(lab, host, "/readyz")
    wait_for(lambda: status_of(ready, timeout=2) == 200, within_s, f"{host} /readyz 200", 0.5)
    return time.monotonic() - started


def on(lab, host: str, command: str) -> str:
    done = lab.run(host, command, timeout=120)
    assert done.returncode == 0, f"{host}: {command}: {done.stderr.strip()[-500:]}"
    return done.stdout.strip()


def report(message: str) -> None:
    """Measurements (deploy times) for people: build/fleet-times.txt, also when pytest
    captures the output."""
    line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {message}\n"
    (REPO / "build").mkdir(exist_ok=True)
    with (REPO / "build" / "fleet-times.txt").open("a") as times:
        times.write(line)


def prometheus_url(lab) -> str:
    return f"http://{lab.address(lab.groups['monitoring'][0])}:{PROMETHEUS_PORT}"


def prometheus(lab, path: str, **params: str) -> dict:
    """The `data` of a GET of Prometheus' API on the monitoring host."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{prometheus_url(lab)}{path}{query}", timeout=10) as answer:
        return json.load(answer)["data"]


def firing(lab, alert: str) -> list[dict]:
    """The series of `alert` firing in Prometheus now (empty: not firing)."""
    query = f'ALERTS{{alertname="{alert}",alertstate="firing"}}'
    return prometheus(lab, "/api/v1/query", query=query)["result"]


def rule_annotations(lab, alert: str) -> dict[str, str]:
    """The annotations of the loaded rule `alert` (what its notification says)."""
    for group in prometheus(lab, "/api/v1/rules")["groups"]:
        for rule in group["rules"]:
            if rule["name"] == alert:
                return rule["annotations"]
    raise AssertionError(f"no rule {alert} loaded in Prometheus")


@dataclass
class Client:
    """Requests to every app host, one thread per host, until stopped: what each got.
    Mostly cache hits, or (`misses`) a user nobody asked for each time: every request
    then needs the database."""

    urls: list[str]
    misses: bool = False
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    slowest_s: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def send(self, base: str) -> None:
        user_id = 0 if not self.misses else uuid.uuid4().int % 10**9
        while not self._stop.is_set():
            user_id = user_id + 1 if self.misses else user_id % 50 + 1
            started = time.monotonic()
            try:
                with urllib.request.urlopen(
                    f"{base}/api/predictions/matched?user_id={user_id}", timeout=60
                ) as answer:
                    answer.read()
                    outcome = str(answer.status)
            except urllib.error.HTTPError as exc:
                outcome = str(exc.code)
            except OSError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            self.slowest_s = max(self.slowest_s, time.monotonic() - started)
            self.answers[(base, outcome)] += 1
            time.sleep(0.02)

    def failed(self) -> dict[tuple[str, str], int]:
        return {key: n for key, n in self.answers.items() if key[1] != "200"}

    def served(self) -> dict[str, int]:
        return {url: self.answers[(url, "200")] for url in self.urls}


@contextmanager
def client_on(lab: Lab, misses: bool = False) -> Iterator[Client]:
    client = Client([url(lab, host, "") for host in lab.groups["app"]], misses=misses)
    threads = [threading.Thread(target=client.send, args=(u,), daemon=True) for u in client.urls]
    for thread in threads:
        thread.start()
    try:
        yield client
    finally:
        client._stop.set()
        for thread in threads:
            thread.join(timeout=90)
