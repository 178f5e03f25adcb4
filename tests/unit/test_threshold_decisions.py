"""One decision per seed threshold (checks/monitor/triggers.py), on both sides of its
number: what the monitor, raise_pool's watch, the smoke gate and the alert rules' tests
all decide with."""

from __future__ import annotations

import pytest

from checks import thresholds
from checks.monitor.triggers import (
    hit_rate_low,
    hit_rate_pct,
    too_many_active,
    too_many_refusals,
    too_many_waiting,
)

LIMITS = thresholds.load().monitor


@pytest.mark.parametrize(("count", "fires"), [(None, False), (3, False), (4, True)])
def test_more_than_3_refusals_in_the_window(count, fires):
    assert too_many_refusals(count, LIMITS.max_clients_errors) is fires


@pytest.mark.parametrize(
    ("hits", "requests", "rate"),
    [(0, 19, None), (0, 20, 0.0), (10, 20, 50.0), (499, 1000, 49.9), (1, 1, None)],
)
def test_the_hit_rate_needs_20_requests(hits, requests, rate):
    assert hit_rate_pct(hits, requests, LIMITS.cache_hit_rate) == rate


@pytest.mark.parametrize(("rate", "fires"), [(None, False), (50.0, False), (49.9, True), (0, True)])
def test_a_hit_rate_below_50_percent(rate, fires):
    assert hit_rate_low(rate, LIMITS.cache_hit_rate) is fires


@pytest.mark.parametrize(("active", "fires"), [(None, False), (45, False), (46, True)])
def test_more_than_45_active_connections(active, fires):
    assert too_many_active(active, LIMITS.db_active_connections) is fires


@pytest.mark.parametrize(("waiting", "fires"), [(None, False), (5, False), (6, True)])
def test_more_than_5_requests_waiting(waiting, fires):
    assert too_many_waiting(waiting, LIMITS.pool_waiting) is fires
