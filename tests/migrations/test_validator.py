"""The data-completeness validator (jobs) before and after this migration."""

import psycopg

from app import migrations
from app.jobs import data_completeness

HALF_STATS = """
UPDATE ts_matches SET statistics_first_half = '{"shots": [3, 4]}',
    incidents_first_half = '[]' WHERE id = 'm000000001'
"""


def test_the_validator_skips_before_and_sets_the_flags_after_the_migration(
    baseline_url, redis_url, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", baseline_url)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RQ_REDIS_URL", redis_url)

    before = data_completeness.run()
    migrations.apply(baseline_url)
    with psycopg.connect(baseline_url) as conn:
        conn.execute(HALF_STATS)
    after = data_completeness.run()

    assert before["columns_present"] is False
    assert before["updated"] == 0
    assert after["columns_present"] is True
    assert after["updated"] == 1
    with psycopg.connect(baseline_url) as conn:
        flags = conn.execute(
            "SELECT data_completeness FROM ts_matches WHERE id = 'm000000001'"
        ).fetchone()[0]
    assert flags == {"first_half": True, "second_half": False, "full_time": False}
