"""The validator on the 0001 schema (columns absent) and with the half-stats columns added."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import psycopg
import pytest

from app import migrations
from app.jobs import data_completeness
from tests.jobs.matches import add_match, match_rows

HALF = json.dumps({"shots": [3, 4]})
ALL_FALSE = {"first_half": False, "second_half": False, "full_time": False}


@pytest.fixture
def with_half_stats(db: str) -> Iterator[str]:
    """The same database after the real half-stats migration, rolled back afterwards."""
    migrations.apply(db)
    yield db
    migrations.rollback(db, target="0001_initial")


def test_without_the_half_stats_columns_it_logs_at_debug_and_returns_an_empty_result(
    db, make_ctx, caplog
):
    with psycopg.connect(db) as conn:
        add_match(conn, "finished01", status="finished", kickoff_ago=300, minute=90)
    caplog.set_level(logging.DEBUG, logger="app.jobs.data_completeness")

    summary = data_completeness.run(make_ctx(db).settings)

    assert summary == {
        "updated": 0,
        "skipped": 0,
        "rejected": 0,
        "failed": 0,
        "checked": 0,
        "columns_present": False,
    }
    absent = [r for r in caplog.records if "absent" in r.getMessage()]
    assert [r.levelno for r in absent] == [logging.DEBUG]


def test_with_the_columns_it_sets_the_flags_of_finished_matches_to_what_their_data_shows(
    with_half_stats, make_ctx
):
    db = with_half_stats
    full = {"statistics_first_half": HALF, "incidents_first_half": "[]"}
    second = {"statistics_second_half": HALF, "incidents_second_half": "[]"}
    with psycopg.connect(db) as conn:
        add_match(conn, "complete01", status="finished", kickoff_ago=300, **full, **second)
        add_match(conn, "firstonly1", status="finished", kickoff_ago=300, **full)
        add_match(conn, "nothing001", status="finished", kickoff_ago=300)
        add_match(conn, "live000001", status="second_half", kickoff_ago=70, **full, **second)
        add_match(
            conn,
            "wrongflag1",
            status="finished",
            kickoff_ago=300,
            data_completeness=json.dumps(
                {"first_half": True, "second_half": True, "full_time": True, "checked_by": "import"}
            ),
            **full,
        )
    settings = make_ctx(db).settings

    summary = data_completeness.run(settings)

    assert match_rows(db, "data_completeness") == {
        "complete01": ({"first_half": True, "second_half": True, "full_time": True},),
        "firstonly1": ({"first_half": True, "second_half": False, "full_time": False},),
        "nothing001": (ALL_FALSE,),
        "live000001": (ALL_FALSE,),
        "wrongflag1": (
            {"first_half": True, "second_half": False, "full_time": False, "checked_by": "import"},
        ),
    }
    assert (summary["updated"], summary["checked"], summary["columns_present"]) == (3, 3, True)
    again = data_completeness.run(settings)
    assert (again["updated"], again["checked"]) == (0, 0)
