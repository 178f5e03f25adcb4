"""The fleet-aware recommendation holds for every server size, fleet and load."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from checks import thresholds
from checks.capacity.decide import recommend

LIMITS = thresholds.load().capacity


@st.composite
def servers(draw):
    max_connections = draw(st.integers(1, 10_000))
    reserved = draw(st.integers(0, max_connections - 1))
    others = draw(st.integers(0, max_connections - reserved))
    return max_connections, reserved, others


@given(servers(), st.integers(1, 256))
def test_all_pools_together_never_exceed_max_connections(server, instances):
    max_connections, reserved, others = server

    per_pool = recommend(max_connections, reserved, others, instances, LIMITS)

    assert 0 <= per_pool <= LIMITS.pool_max_cap
    assert instances * per_pool + others + reserved <= max_connections


@given(st.integers(1, 10_000), st.integers(0, 23))
def test_one_pool_and_no_other_applications_gives_the_seeds_numbers(max_connections, reserved):
    per_pool = recommend(max_connections, min(reserved, max_connections - 1), 0, 1, LIMITS)

    assert per_pool == max(0, min(max_connections - 23, 80))


def test_four_instances_on_the_seeds_server_get_19_each():
    assert recommend(100, 3, 0, 4, LIMITS) == 19
