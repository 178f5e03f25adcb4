"""Who runs what under `make test`'s pytest-xdist workers, and in which order."""

from __future__ import annotations

from tests.support.worker_groups import group_of, misplaced, run_order


def test_the_lab_and_the_deployment_each_have_one_worker_and_the_rest_any():
    assert group_of("tests/lab/test_lab.py::test_x") == "lab"
    assert group_of("tests/fleet/test_fleet.py::test_x") == "lab"
    assert group_of("tests/e2e/test_deploy.py::test_x") == "deployment"
    assert group_of("tests/unit/test_worker_groups.py::test_x") is None


def test_the_bare_lab_is_tested_before_the_fleet_is_deployed_onto_it():
    collected = [
        "tests/fleet/test_fleet.py::test_first",
        "tests/fleet/test_security.py::test_b",
        "tests/lab/test_image.py::test_a",
        "tests/lab/test_lab.py::test_b",
    ]
    assert sorted(collected, key=run_order) == [
        "tests/lab/test_image.py::test_a",
        "tests/lab/test_lab.py::test_b",
        "tests/fleet/test_fleet.py::test_first",
        "tests/fleet/test_security.py::test_b",
    ]


def test_a_shared_fixture_used_outside_its_directories_is_named():
    assert misplaced("tests/unit/test_x.py::test_y", ["lab"]) == (
        "tests/unit/test_x.py::test_y uses `lab`: put it under tests/lab/ or tests/fleet/"
    )
    assert misplaced("tests/fleet/test_x.py::test_y", ["lab"]) is None
