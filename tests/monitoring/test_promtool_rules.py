"""The rendered alert rules, checked and unit-tested with Debian's promtool at each
threshold's edge (tests/monitoring/rule_cases.py), and the cases proven able to fail."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks import alert_rules, thresholds
from tests.monitoring import dependency_rule_cases, rule_cases

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool missing: run `make servers` (installs prometheus)"
)


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def write_cases(
    directory: Path,
    rules_text: str,
    limits: thresholds.Thresholds,
    document: Callable[..., dict[str, Any]] = rule_cases.document,
    name: str = "rules_test.yml",
) -> Path:
    """The rule file and the promtool tests `document` renders for `limits` (the monitor's
    cases, or dependency_rule_cases'), side by side in `directory`."""
    (directory / "rules.yml").write_text(rules_text)
    rules = yaml.safe_load(rules_text)["groups"][0]["rules"]
    cases = directory / name
    cases.write_text(yaml.safe_dump(document("rules.yml", limits, rules)))
    return cases


def test_rendered_rules_pass_promtool_check(tmp_path):
    (tmp_path / "rules.yml").write_text(alert_rules.render(thresholds.load()))

    done = promtool("check", "rules", "rules.yml", cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_rules.alert_names(thresholds.load()))} rules found" in done.stdout


def test_rules_fire_exactly_at_each_thresholds_edge(tmp_path):
    shipped = thresholds.load()
    write_cases(tmp_path, alert_rules.render(shipped), shipped)

    done = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)

    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


def test_cases_cover_every_edge_the_seed_names(tmp_path):
    shipped = thresholds.load()
    cases = write_cases(tmp_path, alert_rules.render(shipped), shipped)

    names = [group["name"] for group in yaml.safe_load(cases.read_text())["tests"]]

    assert names == [
        "3 too-many-clients errors in the window stay silent",
        "4 errors in the window fire until the first leaves it",
        "4 errors spread over more than the window stay silent",
        "4 errors across a process restart in the window fire",
        "3 errors across a process restart stay silent",
        "4 errors summed over two app hosts fire",
        "steady traffic at 50% stays silent between scrapes",
        "cache hit rate at 50% stays silent",
        "cache hit rate at 49% fires",
        "19 requests, all misses, say nothing",
        "20 requests, all misses, fire",
        "cache hit rate at 49% across a process restart fires",
        "45 active connections for 20 min stay silent",
        "46 active connections for 4 min stay silent",
        "46 active connections for 5 min fire",
        "5 waiting over the fleet stays silent",
        "6 waiting over the fleet fire",
        "5 waiting at PgBouncer stays silent",
        "6 waiting at PgBouncer fire",
        "6 waiting over the app pools and PgBouncer fire",
        "800 of 1000 clients at PgBouncer stay silent",
        "801 of 1000 clients at PgBouncer fire",
    ]


@pytest.mark.parametrize(
    ("section", "change", "failing_case"),
    [
        ("max_clients_errors", {"trigger_above": 2}, "3 too-many-clients errors"),
        ("max_clients_errors", {"trigger_above": 4}, "4 errors in the window fire"),
        ("max_clients_errors", {"window_s": 7200}, "4 errors spread over more than"),
        ("cache_hit_rate", {"trigger_below_pct": 51}, "cache hit rate at 50% stays silent"),
        ("cache_hit_rate", {"min_requests": 21}, "20 requests, all misses, fire"),
        ("db_active_connections", {"sustained_s": 240}, "46 active connections for 4 min"),
        ("pool_waiting", {"trigger_above": 6}, "6 waiting over the fleet fire"),
    ],
)
def test_a_rule_off_by_one_fails_the_cases(
    tmp_path, thresholds_file, section, change, failing_case
):
    shipped = thresholds.load()
    drifted = thresholds.load(thresholds_file(monitor={section: change}))
    write_cases(tmp_path, alert_rules.render(drifted), shipped)

    done = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)

    assert done.returncode != 0
    assert f"name: {failing_case}" in done.stdout + done.stderr


def test_client_slots_rule_off_by_one_fails_the_cases(tmp_path, thresholds_file):
    shipped = thresholds.load()
    drifted = thresholds.load(
        thresholds_file(pgbouncer={"client_slots": {"trigger_above_pct": 81}})
    )
    write_cases(tmp_path, alert_rules.render(drifted), shipped)

    done = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)

    assert done.returncode != 0
    assert "name: 801 of 1000 clients at PgBouncer fire" in done.stdout + done.stderr


def test_pool_waiting_without_pgbouncers_waiters_fails_the_cases(tmp_path):
    shipped = thresholds.load()
    text = alert_rules.render(shipped).replace(
        f" + ({alert_rules.BOUNCER_WAITING} or vector(0))", ""
    )
    assert alert_rules.BOUNCER_WAITING not in text
    write_cases(tmp_path, text, shipped)

    done = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)

    assert done.returncode != 0
    assert "name: 6 waiting at PgBouncer fire" in done.stdout + done.stderr


def test_unfloored_error_count_fires_on_exactly_three(tmp_path):
    """Why the rule floors increase(): unaligned evaluations extrapolate 3 errors to 3.03."""
    shipped = thresholds.load()
    text = alert_rules.render(shipped).replace("floor(sum(", "(sum(")
    write_cases(tmp_path, text, shipped)

    done = promtool("test", "rules", "rules_test.yml", cwd=tmp_path)

    assert done.returncode != 0
    assert "name: 3 too-many-clients errors in the window stay silent" in done.stderr
    assert "MaxClients errors: 3.0" in done.stderr


def write_dependency_cases(directory: Path, rules_text: str, limits: thresholds.Thresholds) -> Path:
    return write_cases(
        directory, rules_text, limits, dependency_rule_cases.document, "dependency_rules_test.yml"
    )


def test_dependency_and_backup_rules_fire_exactly_at_each_thresholds_edge(tmp_path):
    shipped = thresholds.load()
    write_dependency_cases(tmp_path, alert_rules.render(shipped), shipped)

    done = promtool("test", "rules", "dependency_rules_test.yml", cwd=tmp_path)

    assert done.returncode == 0, done.stdout[-6000:] + done.stderr


def _a_scrape_either_side(
    section: str, threshold: str, edge_s: int, failing_case: str
) -> list[tuple[str, dict, str]]:
    """`threshold`'s trigger_above_s one scrape below and one above the shipped `edge_s`:
    each fails the case at the edge."""
    step = dependency_rule_cases.SCRAPE_S
    return [
        (section, {threshold: {"trigger_above_s": edge_s + off}}, failing_case)
        for off in (-step, step)
    ]


@pytest.mark.parametrize(
    ("section", "change", "failing_case"),
    [
        ("dependencies", {"down_for_s": 45}, "GoalGPTPostgresDown: pg_up 0 for a scrape short"),
        *_a_scrape_either_side(
            "dependencies", "scheduler", 60, "the last rq cron heartbeat 60s old is silent"
        ),
        *_a_scrape_either_side(
            "backups", "last_good_backup", 93600, "a backup exactly 93600s old is silent"
        ),
        (
            "backups",
            {"archive_failures": {"window_s": 300}},
            "one failed WAL archive fires until it is 600s old",
        ),
    ],
)
def test_a_dependency_rule_off_by_one_scrape_fails_the_cases(
    tmp_path, thresholds_file, section, change, failing_case
):
    shipped = thresholds.load()
    drifted = thresholds.load(thresholds_file(**{section: change}))
    write_dependency_cases(tmp_path, alert_rules.render(drifted), shipped)

    done = promtool("test", "rules", "dependency_rules_test.yml", cwd=tmp_path)

    assert done.returncode != 0
    assert f"name: {failing_case}" in done.stdout + done.stderr
