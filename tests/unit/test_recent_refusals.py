"""The last-hour refusal count the smoke gate reads (app/infra/refusal.py RecentRefusals)."""

from __future__ import annotations

from app.infra.refusal import WINDOW_S, RecentRefusals
from tests.support.clock import TICK, ManualClock


def test_the_window_is_the_seeds_hour():
    assert WINDOW_S == 3600


def test_a_refusal_counts_for_exactly_the_hour_then_leaves_the_count():
    clock = ManualClock()
    recent = RecentRefusals(clock=clock)
    for _ in range(4):
        recent.add()
    clock.advance(WINDOW_S / 2)
    recent.add()

    clock.advance(WINDOW_S / 2)  # the first four are exactly an hour old
    at_the_hour = recent.count()
    clock.advance(TICK)
    past_it = recent.count()

    assert (at_the_hour, past_it) == (5, 1)
