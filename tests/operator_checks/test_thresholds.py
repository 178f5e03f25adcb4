"""checks/thresholds.yml is the one source, and a bad file is refused in one line."""

from __future__ import annotations

import pytest

from checks import thresholds


def test_shipped_file_carries_the_seeds_numbers():
    t = thresholds.load()

    assert (t.capacity.max_slow_queries, t.capacity.max_lock_waits) == (5, 10)
    assert t.capacity.max_utilization_pct == 70
    assert (t.capacity.headroom_connections, t.capacity.pool_max_cap) == (23, 80)
    assert (t.monitor.max_clients_errors.trigger_above, t.monitor.max_clients_errors.window_s) == (
        3,
        3600,
    )
    assert t.monitor.cache_hit_rate.trigger_below_pct == 50
    assert t.monitor.cache_hit_rate.target_above_pct == 60
    assert (t.monitor.db_active_connections.trigger_above,) == (45,)
    assert t.monitor.db_active_connections.sustained_s == 300
    assert t.monitor.pool_waiting.trigger_above == 5
    assert (t.monitor.interval_s, t.monitor.duration_s) == (60, 86400)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"capacity": {"max_slow_queries": "five"}}, "capacity.max_slow_queries='five' must be"),
        ({"capacity": {"max_slow_queries": 2.5}}, "must be a whole number"),
        ({"capacity": {"extra": 1}}, "unknown key capacity.extra"),
        ({"monitor": {"interval_s": 0}}, "monitor.interval_s must be above 0"),
        ({"capacity": {"max_utilization_pct": 120}}, "max_utilization_pct must be above 0"),
        ({"monitor": {"pool_waiting": {"trigger_above": True}}}, "trigger_above=True must be"),
        (
            {"pgbouncer": {"client_slots": {"trigger_above_pct": 100}}},
            "pgbouncer.client_slots.trigger_above_pct must be above 0 and below 100",
        ),
        (
            {"pgbouncer": {"client_slots": {"trigger_above_pct": 0}}},
            "pgbouncer.client_slots.trigger_above_pct must be above 0 and below 100",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key(thresholds_file, changes, message):
    path = thresholds_file(**changes)

    with pytest.raises(thresholds.ThresholdsError) as refused:
        thresholds.load(path)

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_missing_file_and_broken_yaml_are_one_line_errors(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("capacity: [unclosed\n")

    with pytest.raises(thresholds.ThresholdsError, match="cannot read thresholds file"):
        thresholds.load(tmp_path / "absent.yml")
    with pytest.raises(thresholds.ThresholdsError, match="is not valid YAML") as refused:
        thresholds.load(broken)
    assert "\n" not in str(refused.value)
