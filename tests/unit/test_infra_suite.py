"""Which hosts each testinfra test runs on, read from tests/deployed's source (the fleet test
counts the lab's testinfra run against it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.infra_suite import (
    SUITE,
    judge,
    outcomes,
    required_groups,
    runs_on,
    skipped_for,
)
from tests.support.processes import run_module

INFRA = "tests.deployed"


def test_the_suite_says_where_each_test_runs() -> None:
    suite = required_groups()
    services = f"{INFRA}.test_services"
    assert suite[f"{services}.test_gunicorn_runs_a_master_and_its_workers"] == ({"app"},)
    assert suite[f"{services}.test_env_file_is_private_to_the_service_user"] == (
        {"app", "workers"},
    )
    assert suite[f"{services}.test_no_service_is_left_failed"] == ()
    assert suite[f"{INFRA}.test_monitoring.test_prometheus_is_ready"] == ({"monitoring"},)
    assert suite[f"{INFRA}.test_redis.test_the_password_file_is_root_only"] == ({"redis"},)
    assert suite[f"{INFRA}.test_releases.test_the_release_says_what_it_is"] == ({"app", "workers"},)


def write(tmp_path: Path, source: str) -> Path:
    (tmp_path / "test_roles.py").write_text(source)
    return tmp_path


def test_an_autouse_fixture_and_a_needs_call_must_both_hold(tmp_path: Path) -> None:
    suite = write(
        tmp_path,
        "import pytest\n"
        "@pytest.fixture(autouse=True)\n"
        "def _apps(layout):\n"
        "    if 'app' not in layout.groups:\n"
        "        pytest.skip('not in group app or workers')\n"
        "def test_web(host, layout):\n"
        "    needs(layout, 'app')\n",
    )
    (conditions,) = required_groups(suite, "t").values()
    assert conditions == ({"app", "workers"}, {"app"})
    assert runs_on(conditions, ["app"])
    assert not runs_on(conditions, ["workers"])
    assert runs_on((), ["db"])


def test_a_skip_for_anything_but_a_role_is_refused(tmp_path: Path) -> None:
    suite = write(
        tmp_path,
        "import pytest\n"
        "@pytest.fixture\n"
        "def slow(layout):\n"
        "    pytest.skip('too slow today')\n"
        "def test_x(host, slow):\n"
        "    pass\n",
    )
    with pytest.raises(ValueError, match="slow skips for a reason that is not a role"):
        required_groups(suite, "t")


@pytest.mark.parametrize(
    ("reason", "groups"),
    [
        ("not in group app or workers", {"app", "workers"}),
        ("not in group redis", {"redis"}),
        ("needs a deployment: --hosts=ansible://app --ansible-inventory=...", None),
        ("not in group ", None),
    ],
)
def test_a_role_skip_names_its_groups(reason: str, groups: set[str] | None) -> None:
    assert skipped_for(reason) == groups


GROUPS = {"app-1": ["app"], "db-1": ["db"]}
GUNICORN = f"{INFRA}.test_services.test_gunicorn_runs_a_master_and_its_workers"
POSTGRES = f"{INFRA}.test_services.test_postgresql_listens_on_its_service_address_only"


def junit(tmp_path: Path, skipped: dict[tuple[str, str], str]) -> Path:
    """A report of the whole suite on GROUPS' hosts: each test passes on a host of its
    groups and skips elsewhere for its role, except the (host, test) given in `skipped`."""
    cases = []
    for host, groups in GROUPS.items():
        for test, conditions in required_groups().items():
            module, _, name = test.rpartition(".")
            reason = skipped.get((host, test))
            if reason is None and not runs_on(conditions, groups):
                reason = f"not in group {' or '.join(sorted(conditions[0]))}"
            skip = f'<skipped type="pytest.skip" message="{reason}"/>' if reason else ""
            cases.append(
                f'<testcase classname="{module}" name="{name}[ansible://{host}]">{skip}</testcase>'
            )
    path = tmp_path / "testinfra.xml"
    path.write_text(f"<testsuites><testsuite>{''.join(cases)}</testsuite></testsuites>")
    return path


def test_a_run_where_each_test_ran_on_its_hosts_is_counted_per_host(tmp_path: Path) -> None:
    judged = judge(outcomes(junit(tmp_path, {})), GROUPS)
    assert judged.problems == []
    every_host = sum(not c for c in required_groups().values())
    # db-1 runs two db-only tests: PostgreSQL's listen address, WAL archived (test_backups)
    assert judged.ran == {"app-1": judged.expected["app-1"], "db-1": every_host + 2}
    assert judged.ran["app-1"] > every_host


def test_a_test_skipped_on_a_host_of_its_group_is_named(tmp_path: Path) -> None:
    skipped = {("app-1", GUNICORN): "not in group app", ("db-1", POSTGRES): "not in group redis"}
    judged = judge(outcomes(junit(tmp_path, skipped)), GROUPS)
    assert judged.problems[0] == f"{GUNICORN} skipped on app-1 (['app']): not in group app"
    # A skip for another group's role on a host of the test's group: the count tells.
    assert judged.ran["db-1"] == judged.expected["db-1"] - 1
    assert judged.problems[1].startswith("tests run per host ")
    assert len(judged.problems) == 2


def test_a_suite_that_skipped_everywhere_with_exit_0_is_refused(tmp_path: Path) -> None:
    # What the lab's testinfra run could do before: every test skipped, pytest exits 0.
    report_xml = tmp_path / "all-skipped.xml"
    done = run_module(
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        str(SUITE),
        f"--junitxml={report_xml}",
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    judged = judge(outcomes(report_xml), GROUPS)
    assert judged.problems[0] == "the run covers ['(no host)'], not ['app-1', 'db-1']"
    assert any("skipped on (no host) ([]): needs a deployment" in p for p in judged.problems)
