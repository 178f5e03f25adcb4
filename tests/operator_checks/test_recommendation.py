"""The probe's recommendation (checks/capacity/decide.py, the path `python -m checks.capacity`
takes) holds for every server size, fleet and load."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from checks import thresholds
from checks.capacity.decide import decide
from checks.capacity.demand import Fleet, WebGroup, WorkerGroup, single_pool
from tests.support.capacity import db_stats

LIMITS = thresholds.load().capacity


@st.composite
def servers(draw):
    """(max_connections, reserved, others) with at least one usable slot."""
    max_connections = draw(st.integers(1, 10_000))
    reserved = draw(st.integers(0, max_connections - 1))
    others = draw(st.integers(0, max_connections - reserved))
    return max_connections, reserved, others


def stats_of(server):
    max_connections, reserved, others = server
    stats = db_stats(total=others, other=others, usable=max_connections - 3)
    return dataclasses.replace(stats, superuser_reserved=reserved)


fleets = st.builds(
    Fleet,
    web=st.lists(
        st.builds(
            WebGroup,
            processes=st.integers(1, 16),
            pool_max=st.integers(1, 500),
            threads=st.one_of(st.none(), st.integers(1, 64)),
            refreshes=st.integers(0, 4),
        ),
        min_size=1,
        max_size=3,
    ).map(tuple),
    workers=st.lists(
        st.builds(WorkerGroup, processes=st.integers(0, 8), pool_max=st.integers(1, 4)),
        max_size=2,
    ).map(tuple),
)


@given(servers(), fleets)
def test_the_fleet_on_the_recommended_pool_never_exceeds_max_connections(server, fleet):
    max_connections, reserved, others = server

    per_pool = decide(stats_of(server), fleet, LIMITS).recommended_pool_max

    assert 0 <= per_pool <= LIMITS.pool_max_cap
    if per_pool:
        demand = fleet.with_web_pool(per_pool).demand
        assert demand + others + max(reserved, LIMITS.headroom_connections) <= max_connections
        assert per_pool + others + max(reserved, LIMITS.headroom_connections) <= max_connections


@given(servers(), fleets)
def test_a_judged_pool_above_the_recommendation_is_never_safe(server, fleet):
    decided = decide(stats_of(server), fleet, LIMITS)

    if decided.recommended_pool_max and fleet.web_pool_max > decided.recommended_pool_max:
        assert decided.safe is False
        assert f"above the recommended {decided.recommended_pool_max}" in decided.above_message


@given(st.integers(24, 10_000), st.integers(0, 23), st.integers(1, 500))
def test_one_web_process_and_no_other_applications_gives_the_seeds_numbers(
    max_connections, reserved, pool_max
):
    server = (max_connections, min(reserved, max_connections - 1), 0)

    decided = decide(stats_of(server), single_pool(1, pool_max), LIMITS)

    assert decided.recommended_pool_max == min(max_connections - 23, 80)


def test_four_web_processes_on_the_seeds_server_get_19_each():
    decided = decide(stats_of((100, 3, 0)), single_pool(4, 50), LIMITS)

    assert decided.recommended_pool_max == 19
