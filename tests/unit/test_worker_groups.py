"""Who runs what under `make test`'s xdist workers, and in which order
(tests/support/worker_groups.py)."""

from __future__ import annotations

import pytest

from tests.support.worker_groups import (
    RUN_LAST,
    OneWorkerPerSharedFixture,
    group_of,
    misplaced,
    run_order,
)


@pytest.mark.parametrize(
    ("nodeid", "group"),
    [
        ("tests/fleet/test_fleet.py::test_first_deploy_is_green_on_every_host", "lab"),
        ("tests/lab/test_lab.py::test_down_leaves_nothing_even_after_a_killed_run", "lab"),
        ("tests/e2e/test_deploy.py::test_second_deploy_changes_nothing", "deployment"),
        ("tests/unit/test_fleet_demand.py::test_demand_adds_up_over_hosts", None),
        ("tests/api/test_e2e_like.py::test_x", None),
    ],
)
def test_a_test_goes_to_its_shared_fixtures_worker_or_to_any(nodeid: str, group) -> None:
    assert group_of(nodeid) == group


def test_every_test_of_a_group_is_one_scope_and_the_rest_one_scope_each() -> None:
    split = OneWorkerPerSharedFixture._split_scope
    assert split(None, "tests/fleet/test_a.py::t") == split(None, "tests/lab/test_b.py::u")
    assert split(None, "tests/unit/test_a.py::t") != split(None, "tests/unit/test_a.py::u")


def test_a_test_using_the_lab_outside_its_directories_is_refused_by_name() -> None:
    problem = misplaced("tests/api/test_x.py::test_y", ["lab", "tmp_path"])
    assert (
        problem == "tests/api/test_x.py::test_y uses `lab`: put it under tests/lab/ or tests/fleet/"
    )
    assert misplaced("tests/fleet/test_x.py::test_y", ["lab"]) is None
    assert misplaced("tests/api/test_x.py::test_y", ["deployment_url"]) is None
    assert "deployment" in misplaced("tests/unit/t.py::u", ["deployment"])


def test_the_bare_lab_is_tested_before_the_fleet_is_deployed_onto_it() -> None:
    collected = [
        "tests/fleet/test_fleet.py::test_first",
        "tests/unit/test_a.py::t",
        "tests/fleet/test_security.py::test_b",
        "tests/lab/test_image.py::test_a",
        "tests/lab/test_lab.py::test_b",
    ]
    assert sorted(collected, key=run_order) == [
        "tests/lab/test_image.py::test_a",
        "tests/lab/test_lab.py::test_b",
        "tests/fleet/test_fleet.py::test_first",
        "tests/unit/test_a.py::t",
        "tests/fleet/test_security.py::test_b",
    ]


def test_a_test_that_leaves_the_fleet_changed_runs_after_every_other() -> None:
    (last,) = RUN_LAST
    collected = [
        "tests/fleet/test_fleet.py::test_first",
        last,
        "tests/fleet/test_security.py::test_b",
        "tests/lab/test_lab.py::test_b",
    ]
    assert sorted(collected, key=run_order) == [
        "tests/lab/test_lab.py::test_b",
        "tests/fleet/test_fleet.py::test_first",
        "tests/fleet/test_security.py::test_b",
        last,
    ]
