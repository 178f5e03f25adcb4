"""checks/thresholds.yml is the one source, and a bad file is refused in one line."""

from __future__ import annotations

import pytest
import yaml

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
        ({"monitor": {"interval_s": "60"}}, "thresholds: monitor.interval_s='60' must be a number"),
        ({"monitor": {"pool_waiting": {"action": 5}}}, "pool_waiting.action=5 must be text"),
        ({"monitor": {"pool_waiting": 5}}, "thresholds: monitor.pool_waiting must be a mapping"),
        (
            {"monitor": {"cache_hit_rate": {"trigger_below_pct": 101}}},
            "thresholds: monitor.cache_hit_rate.trigger_below_pct must be from 0 to 100",
        ),
        ({"tls": {"cert_expiry": {1: "x"}}}, "thresholds: unknown key tls.cert_expiry.1"),
        # Two faults: the file's shape is judged before any range.
        (
            {"capacity": {"slow_query_s": 0}, "tls": {"cert_expiry": {"action": None}}},
            "thresholds: tls.cert_expiry.action=None must be text",
        ),
    ],
)
def test_bad_values_are_refused_naming_the_key(thresholds_file, changes, message):
    path = thresholds_file(**changes)

    with pytest.raises(thresholds.ThresholdsError) as refused:
        thresholds.load(path)

    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_missing_key_and_a_file_that_is_no_mapping_are_named(tmp_path):
    shipped = yaml.safe_load(thresholds.DEFAULT_PATH.read_text())
    del shipped["capacity"]["slow_query_s"]
    missing = tmp_path / "missing.yml"
    missing.write_text(yaml.safe_dump(shipped))
    empty = tmp_path / "empty.yml"
    empty.write_text("")

    with pytest.raises(thresholds.ThresholdsError) as refused:
        thresholds.load(missing)
    assert str(refused.value) == "thresholds: missing key capacity.slow_query_s"
    with pytest.raises(thresholds.ThresholdsError) as refused:
        thresholds.load(empty)
    assert str(refused.value) == "thresholds: the file must be a mapping"


def test_the_monitor_section_a_run_recorded_reads_back_as_it_was():
    limits = thresholds.load().monitor

    assert thresholds.monitor_from(limits.model_dump()) == limits
    with pytest.raises(thresholds.ThresholdsError) as refused:
        thresholds.monitor_from({"interval_s": 60})
    assert str(refused.value) == "thresholds: missing key monitor.duration_s"


def test_missing_file_and_broken_yaml_are_one_line_errors(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("capacity: [unclosed\n")

    with pytest.raises(thresholds.ThresholdsError, match="cannot read thresholds file"):
        thresholds.load(tmp_path / "absent.yml")
    with pytest.raises(thresholds.ThresholdsError, match="is not valid YAML") as refused:
        thresholds.load(broken)
    assert "\n" not in str(refused.value)
