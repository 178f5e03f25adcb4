"""`make alert-rules` renders Prometheus rules from the same thresholds the monitor uses."""

from __future__ import annotations

import subprocess

import yaml

from checks import alert_rules, thresholds
from tests.support.paths import REPO


def by_name(text: str) -> dict[str, dict]:
    (group,) = yaml.safe_load(text)["groups"]
    return {rule["alert"]: rule for rule in group["rules"]}


def test_shipped_thresholds_render_the_seeds_four_triggers():
    rules = by_name(alert_rules.render(thresholds.load()))

    assert rules["GoalGPTMaxClientsErrors"]["expr"] == (
        "floor(sum(increase(goalgpt_db_too_many_clients_total[1h]))) > 3"
    )
    assert " < 50 and " in rules["GoalGPTCacheHitRateLow"]["expr"]
    assert 'result=~"hit|stale"' in rules["GoalGPTCacheHitRateLow"]["expr"]
    assert rules["GoalGPTDbActiveConnectionsHigh"]["for"] == "5m"
    assert rules["GoalGPTDbActiveConnectionsHigh"]["expr"].endswith(" > 45")
    assert rules["GoalGPTPoolWaiting"]["expr"] == (
        "sum(goalgpt_db_pool_waiting)"
        " + (sum(pgbouncer_pools_client_waiting_connections) or vector(0)) > 5"
    )
    assert rules["GoalGPTPoolWaiting"]["annotations"]["action"] == "Check for connection leaks"


def test_shipped_thresholds_render_the_queue_alerts_and_promtool_accepts_them(tmp_path):
    text = alert_rules.render(thresholds.load())
    rules = by_name(text)

    memory = rules["GoalGPTQueueRedisMemoryHigh"]["expr"]
    assert "goalgpt_queue_redis_used_memory_bytes" in memory and " > 80 and " in memory
    assert rules["GoalGPTQueueRedisEvicts"]["expr"] == "min(goalgpt_queue_redis_noeviction) == 0"
    assert rules["GoalGPTQueueLong"]["expr"].endswith("(goalgpt_queue_length) > 1000")
    assert rules["GoalGPTQueueOldestJobOld"]["expr"].endswith(
        "(goalgpt_queue_oldest_job_age_seconds) > 120"
    )
    path = tmp_path / "rules.yml"
    path.write_text(text)
    checked = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_changed_thresholds_change_the_rules(thresholds_file):
    path = thresholds_file(
        monitor={
            "max_clients_errors": {"trigger_above": 7, "window_s": 1800},
            "db_active_connections": {"trigger_above": 90, "sustained_s": 90},
        }
    )

    rules = by_name(alert_rules.render(thresholds.load(path)))

    assert rules["GoalGPTMaxClientsErrors"]["expr"] == (
        "floor(sum(increase(goalgpt_db_too_many_clients_total[30m]))) > 7"
    )
    assert rules["GoalGPTDbActiveConnectionsHigh"]["for"] == "90s"
    assert rules["GoalGPTDbActiveConnectionsHigh"]["expr"].endswith(" > 90")


def test_durations_are_valid_prometheus_durations():
    assert [alert_rules.duration(s) for s in (3600, 300, 90, 0.5, 0)] == [
        "1h",
        "5m",
        "90s",
        "500ms",
        "0s",
    ]


def test_make_alert_rules_writes_the_file(tmp_path):
    target = tmp_path / "rules" / "goalgpt.yml"

    done = subprocess.run(
        ["make", "-s", "alert-rules", f"ALERT_RULES={target}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert f"wrote 18 alerting rules to {target}" in done.stdout
    assert set(by_name(target.read_text())) == {
        "GoalGPTMaxClientsErrors",
        "GoalGPTCacheHitRateLow",
        "GoalGPTDbActiveConnectionsHigh",
        "GoalGPTPoolWaiting",
        "GoalGPTQueueRedisMemoryHigh",
        "GoalGPTQueueRedisEvicts",
        "GoalGPTQueueLong",
        "GoalGPTQueueOldestJobOld",
        "GoalGPTPgBouncerClientSlotsHigh",
        "GoalGPTPostgresDown",
        "GoalGPTCacheRedisDown",
        "GoalGPTQueueRedisDown",
        "GoalGPTSchedulerMissing",
        "GoalGPTWorkerHostDown",
        "GoalGPTBackupTooOld",
        "GoalGPTWalArchivingFailing",
        "GoalGPTBackupRepositoryUnreadable",
        "GoalGPTTLSCertificateExpiring",
    }


def promtool_test(directory, rules_text: str, series: str, alerts: list[dict]) -> str:
    """promtool's verdict on the rules for one series, evaluated at 1 minute."""
    (directory / "rules.yml").write_text(rules_text)
    case = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": series[0], "values": series[1]}],
                "alert_rule_test": [
                    {
                        "eval_time": "1m",
                        "alertname": "GoalGPTTLSCertificateExpiring",
                        "exp_alerts": alerts,
                    }
                ],
            }
        ],
    }
    (directory / "test.yml").write_text(yaml.safe_dump(case))
    done = subprocess.run(
        ["promtool", "test", "rules", "test.yml"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout + done.stderr if done.returncode else "SUCCESS"


def test_a_certificate_fires_once_it_ends_within_the_threshold_and_not_before(tmp_path):
    days = thresholds.load().tls.cert_expiry.trigger_below_days
    text = alert_rules.render(thresholds.load())
    series = (
        'goalgpt_tls_certificate_expiry_timestamp_seconds{endpoint="postgres",instance="app-1"}'
    )
    edge = int(days * 86400) + 60  # at the 1m evaluation: exactly `days` left
    labels = {"endpoint": "postgres", "severity": "warning", "service": "goalgpt"}
    annotations = {
        "summary": f"The certificate of postgres ends in {int(days) - 1}d 23h 59m 59s "
        f"(trigger: <{days:g} days)",
        "action": thresholds.load().tls.cert_expiry.action,
        "runbook": "docs/runbooks/tls-certificate-expiring.md",
    }
    expected = [{"exp_labels": labels, "exp_annotations": annotations}]

    assert promtool_test(tmp_path, text, (series, f"{edge} {edge}"), []) == "SUCCESS"
    assert promtool_test(tmp_path, text, (series, f"{edge - 1} {edge - 1}"), expected) == "SUCCESS"
