"""The last-hour refusal count the smoke gate reads (app/infra/refusal.py RecentRefusals)."""

from __future__ import annotations

import time

from app.infra.refusal import WINDOW_S, RecentRefusals


def test_the_window_is_the_seeds_hour():
    assert WINDOW_S == 3600


def test_refusals_older_than_the_window_leave_the_count():
    recent = RecentRefusals(window_s=0.3)
    for _ in range(4):
        recent.add()
    assert recent.count() == 4
    time.sleep(0.4)  # past the 0.3 s window: the four leave it
    recent.add()
    assert recent.count() == 1
