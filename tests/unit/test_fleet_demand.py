"""The fleet-demand formula (checks/capacity/demand.py): properties for every fleet."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.capacity.demand import (
    Fleet,
    FleetError,
    WebGroup,
    WorkerGroup,
    advice,
    as_dict,
    describe,
    from_dict,
    largest_web_pool,
    name,
    single_pool,
)

webs = st.builds(
    WebGroup,
    processes=st.integers(0, 16),
    pool_max=st.integers(1, 500),
    threads=st.one_of(st.none(), st.integers(1, 256)),
    refreshes=st.integers(0, 8),
    host=st.sampled_from(["", "app-1"]),
)
workers = st.builds(
    WorkerGroup,
    processes=st.integers(0, 16),
    pool_max=st.integers(1, 20),
    host=st.sampled_from(["", "worker-1"]),
)
fleets = st.builds(
    Fleet,
    web=st.lists(webs, max_size=4).map(tuple),
    workers=st.lists(workers, max_size=4).map(tuple),
)


@given(webs)
def test_a_web_process_holds_no_more_than_its_pool_nor_its_threads_plus_refreshes(group):
    assert group.per_process <= group.pool_max
    if group.threads is not None:
        assert group.per_process <= group.threads + group.refreshes
        assert group.per_process == min(group.pool_max, group.threads + group.refreshes)


@given(fleets, st.integers(1, 500), st.integers(1, 500))
def test_demand_never_falls_when_the_web_pool_grows(fleet, a, b):
    low, high = sorted((a, b))
    assert fleet.with_web_pool(low).demand <= fleet.with_web_pool(high).demand


@given(webs.filter(lambda g: g.threads is not None), st.integers(0, 300))
def test_a_pool_above_threads_plus_refreshes_changes_nothing(group, extra):
    usable = group.threads + group.refreshes
    fleet = Fleet(web=(group,))
    assert fleet.with_web_pool(usable + extra).demand == fleet.with_web_pool(usable).demand


@given(fleets, fleets)
def test_demand_adds_up_over_hosts(a, b):
    both = Fleet(web=a.web + b.web, workers=a.workers + b.workers)
    assert both.demand == a.demand + b.demand


@given(fleets)
def test_worker_demand_is_processes_times_their_own_pool(fleet):
    assert fleet.worker_demand == sum(g.processes * g.pool_max for g in fleet.workers)
    web_only = Fleet(web=fleet.web)
    assert fleet.demand == web_only.demand + fleet.worker_demand


@given(fleets, st.integers(0, 1000), st.integers(1, 80))
def test_largest_web_pool_fits_and_one_more_would_not(fleet, budget, cap):
    best = largest_web_pool(fleet, budget, cap)
    if best == 0:
        assert fleet.with_web_pool(1).demand > budget
        return
    assert fleet.with_web_pool(best).demand <= budget
    assert best == cap or fleet.with_web_pool(best + 1).demand > budget


@given(st.integers(1, 64), st.integers(1, 500))
def test_processes_of_unknown_threads_count_their_whole_pool(instances, pool_max):
    assert single_pool(instances, pool_max).demand == instances * pool_max


@given(fleets.filter(lambda f: f.web or f.workers))
def test_the_dict_form_round_trips(fleet):
    again = from_dict(as_dict(fleet))
    assert again.demand == fleet.demand
    assert [(g.processes, g.per_process) for g in again.web] == [
        (g.processes, g.per_process) for g in fleet.web
    ]


def test_make_deploy_defaults_fit_the_default_database():
    # inventory/local: 2 gunicorn workers x 4 threads + 2 refreshes, pool 50; 2 rq workers x 2.
    fleet = Fleet(
        web=(WebGroup(processes=2, pool_max=50, threads=4, refreshes=2),),
        workers=(WorkerGroup(processes=2, pool_max=2),),
    )
    assert fleet.demand == 2 * 6 + 2 * 2 <= 100 - 3


def test_the_issues_oversubscribed_example_is_explained_with_a_fix():
    fleet = Fleet(
        web=(WebGroup(processes=4, pool_max=50, threads=32, refreshes=2, host="app-1"),),
        workers=(WorkerGroup(processes=2, pool_max=2, host="worker-1"),),
    )
    text = advice(fleet, usable_slots=17)
    assert fleet.demand == 4 * 34 + 4
    assert text == (
        "the fleet can hold 140 connections at once but PostgreSQL has 17 usable slots "
        "(4 web x 34 on app-1 + 2 workers x 2 on worker-1); fix: raise max_connections "
        "(postgresql_max_connections), or lower the web pool (goalgpt_base_db_max_connections) "
        "to 3 or less, or fewer web threads or processes, or fewer worker processes "  # (17-4)//4
        "(goalgpt_workers_count) or JOB_DB_MAX_CONNECTIONS"
    )


@pytest.mark.parametrize(
    ("fleet", "usable", "explained"),
    [
        (  # workers only, a host without processes left out: no web pool to lower
            Fleet(workers=(WorkerGroup(3, 2, host="worker-1"), WorkerGroup(0, 2, host="w-2"))),
            4,
            "the fleet can hold 6 connections at once but PostgreSQL has 4 usable slots "
            "(3 workers x 2 on worker-1); fix: raise max_connections "
            "(postgresql_max_connections), or fewer worker processes (goalgpt_workers_count) "
            "or JOB_DB_MAX_CONNECTIONS",
        ),
        (  # the workers alone fill the slots (no room left for any web pool); hosts unnamed
            Fleet(web=(WebGroup(2, 10),), workers=(WorkerGroup(4, 2),)),
            8,
            "the fleet can hold 28 connections at once but PostgreSQL has 8 usable slots "
            "(2 web x 10 on ? + 4 workers x 2 on ?); fix: raise max_connections "
            "(postgresql_max_connections), or fewer worker processes (goalgpt_workers_count) "
            "or JOB_DB_MAX_CONNECTIONS",
        ),
        (  # one slot left for two web processes: a smaller web pool cannot fix it
            Fleet(web=(WebGroup(2, 10),), workers=(WorkerGroup(4, 2),)),
            9,
            "the fleet can hold 28 connections at once but PostgreSQL has 9 usable slots "
            "(2 web x 10 on ? + 4 workers x 2 on ?); fix: raise max_connections "
            "(postgresql_max_connections), or fewer worker processes (goalgpt_workers_count) "
            "or JOB_DB_MAX_CONNECTIONS",
        ),
        (  # one slot left for each of the web processes
            Fleet(web=(WebGroup(2, 10),), workers=(WorkerGroup(4, 2),)),
            10,
            "the fleet can hold 28 connections at once but PostgreSQL has 10 usable slots "
            "(2 web x 10 on ? + 4 workers x 2 on ?); fix: raise max_connections "
            "(postgresql_max_connections), or lower the web pool "
            "(goalgpt_base_db_max_connections) to 1 or less, or fewer web threads or processes, "
            "or fewer worker processes (goalgpt_workers_count) or JOB_DB_MAX_CONNECTIONS",
        ),
    ],
)
def test_the_advice_names_each_group_and_only_the_fixes_that_apply(fleet, usable, explained):
    assert advice(fleet, usable) == explained


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "the fleet has no web and no worker processes"),
        ({"web": [{"processes": 2}]}, "pool_max must be a whole number of 1 or more, not None"),
        (
            {"web": [{"processes": -1, "pool_max": 5}]},
            "processes must be a whole number of 0 or more, not -1",
        ),
        (
            {"workers": [{"processes": 2, "pool_max": "x"}]},
            "pool_max must be a whole number of 1 or more, not 'x'",
        ),
        ({"web": "nonsense"}, "not a fleet description: 'str' object has no attribute 'get'"),
    ],
)
def test_a_bad_fleet_description_is_one_line_naming_the_field(data, message):
    with pytest.raises(FleetError) as refused:
        from_dict(data)
    assert str(refused.value) == message


def test_the_fleet_is_named_by_its_web_processes_and_workers():
    deployed = Fleet(
        web=(WebGroup(2, 50, threads=4, refreshes=2, host="app-1"), WebGroup(1, 50, host="")),
        workers=(WorkerGroup(2, 2, host="worker-1"), WorkerGroup(1, 3)),
    )

    assert name(deployed) == "3 web processes + 3 workers"
    assert name(single_pool(1, 50)) == "1 web process"
    assert name(Fleet(web=(WebGroup(1, 5),), workers=(WorkerGroup(1, 2),))) == (
        "1 web process + 1 worker"
    )
    assert describe(deployed) == [
        "2 web processes on app-1: pool max 50, each holds at most 6 (4 threads + 2 refreshes)",
        "1 web process: each counted at its whole pool max 50 (threads unknown)",
        "2 workers on worker-1: job pool 2 each",
        "1 worker: job pool 3 each",
    ]


@given(fleets.filter(lambda f: f.web or f.workers))
def test_a_fleet_survives_its_dict_form(fleet):
    assert from_dict(as_dict(fleet)) == fleet


def test_the_dict_form_names_every_field_and_the_demand():
    fleet = Fleet(
        web=(WebGroup(2, 50, threads=4, refreshes=2, host="app-1"),),
        workers=(WorkerGroup(2, 2, host="worker-1"),),
    )

    assert as_dict(fleet) == {
        "web": [
            {
                "host": "app-1",
                "processes": 2,
                "threads": 4,
                "refreshes": 2,
                "pool_max": 50,
                "per_process": 6,
            }
        ],
        "workers": [{"host": "worker-1", "processes": 2, "pool_max": 2}],
        "demand": 16,
    }


def test_what_the_deploy_leaves_out_takes_its_default_and_numbers_may_be_text():
    # Ansible hands the filter numbers as text when they come from templates.
    fleet = from_dict(
        {
            "web": [{"processes": "2", "pool_max": "50"}],
            "workers": [{"processes": 1, "pool_max": 2}],
        }
    )

    assert fleet == Fleet(
        web=(WebGroup(processes=2, pool_max=50, threads=None, refreshes=0, host=""),),
        workers=(WorkerGroup(processes=1, pool_max=2, host=""),),
    )
