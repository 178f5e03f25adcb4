"""The watchdog repairs stale live matches through the orchestrator and leaves the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from app import config
from app.jobs import watchdog
from tests.jobs.matches import add_long_over_match, add_match, match_rows, one_match

NOW = datetime(2026, 5, 1, 20, 0, tzinfo=UTC)
SETTINGS = config.load({})


@pytest.mark.parametrize(
    ("status", "minute", "kickoff_ago_min", "repair"),
    [
        ("second_half", 88, 200, {"status": "finished", "minute": 90}),
        ("second_half", 93, 150, {"status": "finished", "minute": 93}),
        ("half_time", 45, 400, {"status": "finished", "minute": 90}),
        ("first_half", None, 160, {"status": "finished", "minute": 90}),
        ("first_half", 44, 70, {"status": "half_time", "minute": 45}),
        ("first_half", 40, 50, None),
        ("second_half", 70, 100, None),
        ("half_time", 45, 149, None),
    ],
)
def test_repair_follows_the_clock(status, minute, kickoff_ago_min, repair):
    kickoff = NOW - timedelta(minutes=kickoff_ago_min)
    assert watchdog.repair(status, minute, kickoff, NOW, SETTINGS) == repair


def test_the_watchdog_repairs_stale_matches_and_leaves_fresh_and_plausible_ones(db, make_ctx):
    with psycopg.connect(db) as conn:
        add_long_over_match(conn)
        add_match(
            conn, "stuckfirst", status="first_half", kickoff_ago=70, minute=44, updated_ago=20
        )
        add_match(
            conn,
            "plausible1",
            status="second_half",
            kickoff_ago=100,
            minute=70,
            second_half_ago=40,
            updated_ago=15,
        )
        add_match(
            conn,
            "fresh00001",
            status="second_half",
            kickoff_ago=200,
            minute=90,
            second_half_ago=140,
            updated_ago=2,
        )
        add_match(
            conn, "finished01", status="finished", kickoff_ago=300, minute=90, updated_ago=200
        )
    before = one_match(db, "longover01")["updated_at"]

    summary = watchdog.run(make_ctx(db, WATCHDOG_STALE_AFTER_S=600).settings)

    assert match_rows(db, "status, minute") == {
        "longover01": ("finished", 90),
        "stuckfirst": ("half_time", 45),
        "plausible1": ("second_half", 70),
        "fresh00001": ("second_half", 90),
        "finished01": ("finished", 90),
    }
    assert one_match(db, "longover01")["updated_at"] > before
    assert summary == {
        "updated": 2,
        "skipped": 1,
        "rejected": 0,
        "failed": 0,
        "stale": 3,
        "deferred": 0,
    }
