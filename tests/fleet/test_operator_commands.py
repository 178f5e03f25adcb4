"""The commands the README and docs/ show an operator on a deployed host, taken from
the pages and run as shown on the lab, on the session's one fleet deployment
(`first_fleet_deploy`):

- `journalctl ...` and `systemctl ...`, as root on the host that runs their units:
  each names units that exist there and are active, and gives what the docs promise
  (a unit's log with its start lines, `status` of active units, a `start` that leaves
  a running unit as it is, a `restart` that brings the web back ready);
- the service-environment wrapper's commands (`/opt/goalgpt/bin/goalgpt-env ...`) and
  the db host's, as root (`sudo -i`): the exit code and output the docs describe;
- the `curl` lines, from the controller with `APP` set to an app host's address;
- redis-cache-down.md on a real outage of the cache Redis, the one thing stopped here
  (and started again whatever happens; PostgreSQL and the queue Redis are never).

Acts run before reads (an operator acts, confirms, then reads the log): the web's
restart leaves its start lines inside `--since '10 min ago'`."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass

import pytest

from tests.docs import markdown
from tests.fleet.hosts import WEB_PORT, env_value, sudo, wait_ready
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.lab, pytest.mark.slow]

TOOLS = ("systemctl", "journalctl")
# verb -> order: acts first, then the checks that read what they left.
ORDER = {"restart": 0, "start": 1, "status": 2, "journalctl": 3}
# systemctl's options whose value is the next word (not a unit).
VALUED = frozenset({"-s", "--signal", "--kill-whom", "-n", "--lines", "-p", "--property"})


@dataclass(frozen=True)
class Unit:
    """Units of one kind: the group whose first host runs them (the cron: the first worker
    host) and the line each start of theirs writes to the journal."""

    pattern: str
    group: str
    start_line: str


UNITS = (
    Unit(r"goalgpt-web$", "app", r"Starting gunicorn"),
    Unit(r"goalgpt-worker@", "workers", r"Worker \w+: started with PID"),
    Unit(r"goalgpt-cron$", "workers", r"CronScheduler \S+: starting"),
    Unit(r"goalgpt-redis-(cache|queue)$", "redis", r"Ready to accept connections"),
    Unit(r"postgresql@15-main$", "db", r"Started postgresql@15-main\.service"),
    # The lab's pgbouncer group is db-1, the db group's first host.
    Unit(r"goalgpt-pgbouncer$", "db", r"process up: PgBouncer"),
    Unit(r"goalgpt-pgbackrest$", "backup", r"server command begin"),
)


@dataclass(frozen=True)
class Command:
    text: str
    pages: tuple[str, ...]

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)

    @property
    def verb(self) -> str:
        return "journalctl" if self.argv[0] == "journalctl" else self.argv[1]

    def units(self) -> list[str]:
        """The units the command names: journalctl's -u values, systemctl's arguments."""
        argv = self.argv
        if argv[0] == "journalctl":
            return [argv[i + 1] for i, word in enumerate(argv[:-1]) if word == "-u"]
        words = argv[2:]
        return [
            word
            for i, word in enumerate(words)
            if not word.startswith("-") and (i == 0 or words[i - 1] not in VALUED)
        ]

    def option(self, name: str) -> str | None:
        argv = self.argv
        return argv[argv.index(name) + 1] if name in argv[:-1] else None


def everything_shown() -> list[markdown.Shown]:
    """Every page's ```bash lines and inline code, in page order."""
    return [
        shown
        for page in markdown.pages()
        for shown in markdown.shell_lines(page) + markdown.inline_code(page)
    ]


def shown_commands() -> list[Command]:
    """Every systemctl/journalctl command the pages show, in a block or inline, once
    (a tool's bare name is not a command)."""
    pages: dict[str, list[str]] = {}
    for shown in everything_shown():
        words = shown.text.split()
        if words[0] in TOOLS and len(words) > 1:
            pages.setdefault(shown.text, []).append(str(shown.page.relative_to(markdown.REPO)))
    found = [Command(text, tuple(where)) for text, where in pages.items()]
    return sorted(found, key=lambda command: ORDER.get(command.verb, -1))


COMMANDS = shown_commands()


def kind(unit: str) -> Unit:
    for known in UNITS:
        if re.match(known.pattern, unit):
            return known
    pytest.fail(f"the docs name unit {unit!r}, which no lab host runs")


def host_of(lab, command: Command) -> str:
    """The one host that runs every unit the command names."""
    groups = {kind(unit).group for unit in command.units()}
    assert len(groups) == 1, (
        f"{command.text} ({', '.join(command.pages)}) names units of groups {sorted(groups)}:"
        " no host runs them all, on no host does it work as shown"
    )
    return lab.groups[groups.pop()][0]


def loaded(lab, host: str, unit: str) -> dict[str, str]:
    """unit (a name or a glob) -> the active state of each loaded service it matches."""
    pattern = unit if "*" in unit or unit.endswith(".service") else f"{unit}.service"
    script = 'systemctl list-units --all --plain --no-legend --type=service -- "$1"'
    listing = sudo(lab, host, script, pattern)
    return {line.split()[0]: line.split()[2] for line in listing.splitlines() if line.strip()}


def assert_units_active(lab, host: str, command: Command) -> None:
    for unit in command.units():
        states = loaded(lab, host, unit)
        assert states, f"{host}: {command.text} ({', '.join(command.pages)}): no unit {unit}"
        assert set(states.values()) == {"active"}, f"{host}: {states}"


def main_pid(lab, host: str, unit: str) -> int:
    return int(sudo(lab, host, 'systemctl show -p MainPID --value -- "$1"', unit))


def entries(journal: str) -> list[str]:
    """journalctl's entry lines, without its "-- Boot ..." and "-- No entries --" notes."""
    return [line for line in journal.splitlines() if line.strip() and not line.startswith("-- ")]


def started_since(lab, host: str, unit: str, since: str) -> bool:
    """Whether the unit's current run started after `since` (a journalctl time)."""
    script = (
        'started=$(systemctl show -p ActiveEnterTimestamp --value -- "$1"); '
        'test "$(date -d "$started" +%s)" -ge "$(date -d "$2" +%s)" && echo yes || echo no'
    )
    return sudo(lab, host, script, unit, since).strip() == "yes"


@pytest.fixture(scope="module")
def deployed(first_fleet_deploy, lab):
    assert first_fleet_deploy.run.returncode == 0, first_fleet_deploy.run.tail()
    return lab


def test_the_docs_show_systemd_commands_for_every_kind_of_unit():
    named = {kind(unit).pattern for command in COMMANDS for unit in command.units()}
    assert named == {unit.pattern for unit in UNITS}, [c.text for c in COMMANDS]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda command: command.text)
def test_command_works_as_the_docs_show_on_its_host(deployed, command: Command):
    lab = deployed
    host = host_of(lab, command)
    assert_units_active(lab, host, command)
    check = {
        "journalctl": shows_the_units_log,
        "status": shows_active_units,
        "start": leaves_running_units_as_they_are,
        # PgBouncer's resume (USR2) after an interrupted rotation: harmless when running.
        "kill": leaves_running_units_as_they_are,
        "restart": restarts_the_web_ready,
    }.get(command.verb)
    assert check, f"{command.text} ({', '.join(command.pages)}): no check for {command.verb!r}"
    check(lab, host, command)


def shows_the_units_log(lab, host: str, command: Command) -> None:
    lines = entries(sudo(lab, host, command.text))
    (unit,) = command.units()
    limit, since = command.option("-n"), command.option("--since")
    if limit is not None:
        assert 0 < len(lines) <= int(limit), f"{host}: {command.text}: {len(lines)} lines"
        return
    if since is not None and not started_since(lab, host, unit, since):
        return  # nothing promised: the unit may have logged nothing since
    start = kind(unit).start_line
    assert any(re.search(start, line) for line in lines), (
        f"{host}: {command.text}: no line matches {start!r}:\n" + "\n".join(lines[-20:])
    )


def shows_active_units(lab, host: str, command: Command) -> None:
    # One block per unit: its header line, then Loaded:, Active:, ...
    blocks = sudo(lab, host, command.text).split("\n\n")
    for unit in command.units():
        for name in loaded(lab, host, unit):
            block = next((b for b in blocks if f"{name} - " in b.split("\n", 1)[0]), "")
            assert "Active: active (running)" in block, (
                f"{host}: {command.text}: {name} not shown active (running):\n{blocks}"
            )


def leaves_running_units_as_they_are(lab, host: str, command: Command) -> None:
    (unit,) = command.units()
    before = main_pid(lab, host, unit)
    sudo(lab, host, command.text)
    assert main_pid(lab, host, unit) == before
    assert set(loaded(lab, host, unit).values()) == {"active"}


def restarts_the_web_ready(lab, host: str, command: Command) -> None:
    (unit,) = command.units()
    assert kind(unit).group == "app", f"{command.text}: a restart the test does not know"
    before = main_pid(lab, host, unit)
    sudo(lab, host, command.text)
    assert main_pid(lab, host, unit) not in (0, before)
    wait_ready(lab, host, within_s=60)


# The other commands the docs show for a deployed host and the group whose first host
# runs them (the runbooks' "on an app host", "on the db host").
HOST_COMMANDS = (
    (r"(runuser -u goalgpt -- )?/opt/goalgpt/\S+ ", "app"),
    (r"pg_lsclusters$", "db"),
    (r"runuser -u postgres -- pgbackrest ", "db"),
    (r"runuser -u pgbackrest -- pgbackrest ", "backup"),
    (r"tail -n \d+ /var/log/postgresql/", "db"),
    (r"runuser -u postgres -- psql -d goalgpt -c ", "db"),
)
# Shown, but not run here: what runs for minutes or changes the deployment.
NOT_RUN = {
    "checks.monitor": "runs for --duration",
    "app.jobs enqueue": "enqueues a job",
    "/opt/goalgpt/supervisor/": "supervisord's, not on systemd hosts",
    "pg_terminate_backend": "ends a session",
}
# What each prints on the healthy lab, the first that the command contains.
OUTPUTS = (
    ("checks.dependencies", r"^postgres: ok\nredis: ok\nqueue_redis: ok$"),
    ("checks.capacity --json", r'^\{"safe": '),
    ("checks.capacity", r"^Recommended pool max: \d+"),
    ("app.config", r"^  DB_MAX_CONNECTIONS = \d+$"),
    ("app.jobs stats", r"^match_minute: \{"),
    ("app.jobs.worker_command", r"^python -m app.jobs.wait_for_queue rq worker "),
    ("app.migrations status", r"^applied  0001_initial$"),
    ("rq info", r"^\w+ \(\S+ [\d.]+:\d+ \d+\): "),  # a worker with its host name
    ("pg_lsclusters", r"^15\s+main\s+\d+\s+online\b"),
    ("pgbackrest --stanza=goalgpt check", r"check command end: completed successfully"),
    ("pgbackrest --stanza=goalgpt info", r"^\s+status: ok$"),
    ("tail -n", r"\S"),
    ("FROM pg_stat_statements", r"^\s*calls \| total_ms \|"),
    ("pg_stat_statements_reset()", r"^\(1 row\)$"),
    ("psql", r"^\(\d+ rows?\)$"),
)
# Exit codes that mean the command worked (the probe: 0 safe to raise, 1 not safe).
EXIT_CODES = {"checks.capacity": (0, 1)}


@dataclass(frozen=True)
class OnHost:
    text: str
    group: str


def host_commands() -> list[OnHost]:
    """Every command the pages show for a deployed host, once: no placeholder (N, MODULE),
    nothing NOT_RUN."""
    found: dict[str, OnHost] = {}
    for text in (shown.text for shown in everything_shown()):
        # Capitals are placeholders (N, MODULE), but not in the SQL psql is given.
        if re.search(r"\b[A-Z]+\b", re.sub(r'-c "[^"]*"', "", text)) or any(
            name in text for name in NOT_RUN
        ):
            continue
        for pattern, group in HOST_COMMANDS:
            if re.match(pattern, text):
                found[text] = OnHost(text, group)
    return list(found.values())


def as_root(lab, host: str, command: str):
    """command on host as the docs run it: as root after `sudo -i` (root's login
    environment, from root's home); the exit code and output, whatever they are."""
    return lab.run(host, shlex.join(["sudo", "-i", "sh", "-c", command]), timeout=120)


@pytest.mark.parametrize("command", host_commands(), ids=lambda command: command.text)
def test_host_command_works_as_the_docs_show(deployed, command: OnHost):
    lab = deployed
    host = lab.groups[command.group][0]
    output = next((out for name, out in OUTPUTS if name in command.text), None)
    assert output, f"{command.text}: no check of what it prints"
    done = as_root(lab, host, command.text)
    allowed = next((codes for name, codes in EXIT_CODES.items() if name in command.text), (0,))
    assert done.returncode in allowed, (
        f"{host}: {command.text}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    )
    assert re.search(output, done.stdout, re.M), f"{host}: {command.text}:\n{done.stdout}"


def test_goalgpt_env_values_win_over_what_the_caller_exported(deployed):
    lab = deployed
    host = lab.groups["app"][0]
    done = as_root(
        lab, host, "DB_MAX_CONNECTIONS=1 /opt/goalgpt/bin/goalgpt-env printenv DB_MAX_CONNECTIONS"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == env_value(lab, host, "DB_MAX_CONNECTIONS") != "1"


# What the web answers to the curl lines the docs show, by path, on the healthy lab.
CURL_OUTPUTS = (
    ("/readyz", r'"status":"ready"'),
    ("/healthz", r'"version":"\w+"'),
    ("/metrics", r"^goalgpt_\w+(\{[^}]*\})? \S+$"),
    ("/api/predictions/matched", r'^\{"predictions":'),
)


def curl_lines() -> list[str]:
    """Every curl line the pages show for a deployed app host (`$APP`), once."""
    texts = (shown.text for shown in everything_shown())
    return list(
        dict.fromkeys(text for text in texts if text.startswith("curl ") and "$APP" in text)
    )


def curl(lab, command: str) -> subprocess.CompletedProcess[str]:
    """A curl line from the controller (the deploy installs no curl), APP set as the docs
    say to the first app host's web."""
    app = f"{lab.address(lab.groups['app'][0])}:{WEB_PORT}"
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        env=os.environ | {"APP": app},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize("command", curl_lines())
def test_curl_line_works_as_the_docs_show_against_an_app_host(deployed, command: str):
    done = curl(deployed, command)
    assert done.returncode == 0, f"{command}: exit {done.returncode} {done.stderr}"
    output = next((out for path, out in CURL_OUTPUTS if path in command), None)
    assert output, f"{command}: no check of what it prints"
    assert re.search(output, done.stdout, re.M), f"{command}:\n{done.stdout}"


def test_docs_show_the_web_at_an_app_hosts_address_not_this_boxs():
    """127.0.0.1:8000 is only inventory/local's: the pages under docs/ use $APP (the
    README's quick start is this box's)."""
    local = [
        shown.where()
        for shown in everything_shown()
        if shown.page != markdown.REPO / "README.md"
        and shown.text.startswith("curl ")
        and "127.0.0.1" in shown.text
    ]
    assert not local, local


def test_redis_cache_down_runbook_confirms_the_outage_and_its_start_ends_it(deployed):
    """docs/runbooks/redis-cache-down.md on a real outage (the cache Redis stopped, and
    started again whatever happens): its Confirm lines show what it says, its Act's
    `systemctl start` ends it, its Next holds."""
    lab = deployed
    app, redis = lab.groups["app"][0], lab.groups["redis"][0]
    page = markdown.REPO / "docs" / "runbooks" / "redis-cache-down.md"
    shown = [s.text for s in markdown.shell_lines(page) + markdown.inline_code(page)]
    (readyz,) = [text for text in shown if text.startswith("curl ") and "/readyz" in text]
    (dependencies,) = [text for text in shown if text.endswith("-m checks.dependencies")]
    (start,) = [text for text in shown if text.startswith("systemctl start ")]

    sudo(lab, redis, "systemctl stop goalgpt-redis-cache")
    try:
        ready = json.loads(curl(lab, readyz).stdout)
        assert (ready["status"], ready["degraded"]) == ("degraded", ["redis"]), ready
        checked = as_root(lab, app, dependencies)
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert re.search(r"^redis: (?!ok$)\S", checked.stdout, re.M), checked.stdout

        sudo(lab, redis, start)
        # Started, not yet listening: the web reconnects when it is.
        wait_for(
            lambda: json.loads(curl(lab, readyz).stdout)["status"] == "ready",
            30,
            f"/readyz ready after {start}",
            every=0.5,
        )
        assert as_root(lab, app, dependencies).returncode == 0
    finally:
        sudo(lab, redis, "systemctl start goalgpt-redis-cache")  # whatever the page says
