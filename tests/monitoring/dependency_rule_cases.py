"""`promtool test rules` cases for the dependency and backup alerts, on both sides of
each number in checks/thresholds.yml (`dependencies`, `backups`).

Series are scraped every SCRAPE_S and the rules evaluated as often, so a `for:` of
one minute is seen pending one evaluation before it fires. Times are seconds from
the start of each case; a heartbeat or backup time is a unix time in the same clock
(promtool's time() starts at 0).
"""

from __future__ import annotations

from typing import Any

from checks.thresholds import Thresholds

SCRAPE_S = 15
Values = list[float | str]  # one per scrape; "stale" = the series is gone


def document(rule_file: str, limits: Thresholds, rules: list[dict[str, Any]]) -> dict[str, Any]:
    by_name = {rule["alert"]: rule for rule in rules}
    tests = []
    for build in (_down, _scheduler, _worker_hosts, _backup_age, _archiving, _repository):
        tests += build(limits, by_name)
    return {"rule_files": [rule_file], "evaluation_interval": f"{SCRAPE_S}s", "tests": tests}


def _series(name: str, values: Values, **labels: str) -> dict[str, str]:
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    text = " ".join(v if isinstance(v, str) else f"{v:g}" for v in values)
    return {"series": f"{name}{{{label_text}}}", "values": text}


def _at(seconds: int) -> str:
    return f"{seconds}s"


def _expect(rule: dict[str, Any], at_s: int, labels: dict[str, str] | None, value: float = 0):
    """`rule` firing at `at_s` with these extra labels (None: silent); `value` fills $value."""
    test: dict[str, Any] = {"eval_time": _at(at_s), "alertname": rule["alert"], "exp_alerts": []}
    if labels is None:
        return test
    annotations = {
        key: text.replace("{{ $value }}", f"{value:g}").replace(
            "{{ $labels.host }}", labels.get("host", "")
        )
        for key, text in rule["annotations"].items()
    }
    test["exp_alerts"] = [{"exp_labels": rule["labels"] | labels, "exp_annotations": annotations}]
    return test


def _group(name: str, series: list[dict], checks: list[dict]) -> dict[str, Any]:
    return {
        "name": name,
        "interval": f"{SCRAPE_S}s",
        "input_series": series,
        "alert_rule_test": checks,
    }


def _steps(seconds: float) -> int:
    if seconds % SCRAPE_S:
        raise ValueError(f"{seconds:g}s: the cases need a multiple of {SCRAPE_S}s")
    return int(seconds // SCRAPE_S)


def _down(limits: Thresholds, rules: dict[str, dict]) -> list[dict]:
    """Each dependency: down one evaluation short of `down_for_s` is silent, then it fires;
    an exporter that cannot be scraped counts as down."""
    hold = _steps(limits.dependencies.down_for_s)
    first = 4  # the first scrape that sees it down
    healthy, down = [1] * first, [0] * (hold + 4)
    fires_at = (first + hold) * SCRAPE_S
    cases = []
    for alert, metric, job, labels in (
        ("GoalGPTPostgresDown", "pg_up", "postgres", {"host": "db-1"}),
        ("GoalGPTCacheRedisDown", "redis_up", "redis", {"host": "redis-1", "redis": "cache"}),
        ("GoalGPTQueueRedisDown", "redis_up", "redis", {"host": "redis-1", "redis": "queue"}),
    ):
        rule = rules[alert]
        host = {"host": labels["host"]}
        cases += [
            _group(
                f"{alert}: {metric} 0 for a scrape short of {hold * SCRAPE_S}s is silent, "
                "then fires",
                [_series(metric, healthy + down, job=job, **labels)],
                [_expect(rule, fires_at - SCRAPE_S, None), _expect(rule, fires_at, host)],
            ),
            _group(
                f"{alert}: its exporter unreachable fires too",
                [_series("up", healthy + down, job=job, **labels)],
                [_expect(rule, fires_at - SCRAPE_S, None), _expect(rule, fires_at, host)],
            ),
            _group(
                f"{alert}: answering stays silent",
                [_series(metric, [1] * (first + hold + 4), job=job, **labels)],
                [_expect(rule, fires_at + SCRAPE_S, None)],
            ),
        ]
    return cases


def _scheduler(limits: Thresholds, rules: dict[str, dict]) -> list[dict]:
    """The newest heartbeat exactly `trigger_above_s` old is silent; a scrape later it fires."""
    rule = rules["GoalGPTSchedulerMissing"]
    limit = _steps(limits.dependencies.scheduler.trigger_above_s)
    last = 4  # the scrape of the last heartbeat
    beats = [step * SCRAPE_S for step in range(last + 1)] + [last * SCRAPE_S] * (limit + 4)
    edge = (last + limit) * SCRAPE_S
    name = "goalgpt_cron_last_heartbeat_timestamp_seconds"
    two_app_hosts = [_series(name, beats, instance=i) for i in ("app-1", "app-2")]
    return [
        _group(
            f"the last rq cron heartbeat {limit * SCRAPE_S}s old is silent, then fires",
            two_app_hosts,
            [
                _expect(rule, edge, None),
                _expect(rule, edge + SCRAPE_S, {}, limit * SCRAPE_S + SCRAPE_S),
            ],
        ),
        _group(
            # 0 is the Unix epoch: as old as it gets (promtool's clock starts there too).
            "no rq cron registered (0) fires",
            [_series(name, [0] * (limit + 4), instance="app-1")],
            [_expect(rule, (limit + 1) * SCRAPE_S, {}, (limit + 1) * SCRAPE_S)],
        ),
        _group(
            "the queue Redis unreadable says nothing about the scheduler",
            [_series(name, ["stale"] * 4, instance="app-1")],
            [_expect(rule, 2 * SCRAPE_S, None)],
        ),
    ]


def _worker_hosts(limits: Thresholds, rules: dict[str, dict]) -> list[dict]:
    """A worker host whose rq workers left the queue Redis: silent for `down_for_s`, then
    firing for it alone; silent while the queue Redis itself is unreadable."""
    rule = rules["GoalGPTWorkerHostDown"]
    hold = _steps(limits.dependencies.down_for_s)
    gone = 4  # the first scrape without worker-1's workers
    length = gone + hold + 4
    workers = "goalgpt_rq_workers"
    worker_1 = [2] * gone + ["stale"] * (length - gone)
    fires_at = (gone + hold) * SCRAPE_S
    series = [
        _series(workers, worker_1, host="worker-1", instance="app-1"),
        _series(workers, [2] * length, host="worker-2", instance="app-1"),
    ]
    redis_up = _series("goalgpt_queue_redis_up", [1] * length, instance="app-1")
    redis_gone = _series(
        "goalgpt_queue_redis_up", [1] * gone + [0] * (length - gone), instance="app-1"
    )
    worker_2_gone = _series(
        workers, [2] * gone + ["stale"] * (length - gone), host="worker-2", instance="app-1"
    )
    return [
        _group(
            f"worker-1's workers gone for a scrape short of {hold * SCRAPE_S}s is silent, "
            "then fires",
            [*series, redis_up],
            [
                _expect(rule, fires_at - SCRAPE_S, None),
                _expect(rule, fires_at, {"host": "worker-1"}),
            ],
        ),
        _group(
            "every worker gone with the queue Redis stays silent",
            [series[0], worker_2_gone, redis_gone],
            [_expect(rule, fires_at + SCRAPE_S, None)],
        ),
    ]


def _backup_age(limits: Thresholds, rules: dict[str, dict]) -> list[dict]:
    """The newest good backup exactly `trigger_above_s` old is silent; a scrape later it fires."""
    rule = rules["GoalGPTBackupTooOld"]
    limit = int(limits.backups.last_good_backup.trigger_above_s)
    at = 4 * SCRAPE_S
    taken = at - limit  # the backup's unix time: exactly at the limit at `at`
    name = "goalgpt_backup_last_good_timestamp_seconds"
    return [
        _group(
            f"a backup exactly {limit}s old is silent, {limit + SCRAPE_S}s old fires",
            [_series(name, [taken] * 8, host="mon-1")],
            [_expect(rule, at, None), _expect(rule, at + SCRAPE_S, {}, limit + SCRAPE_S)],
        )
    ]


def _archiving(limits: Thresholds, rules: dict[str, dict]) -> list[dict]:
    """One failed WAL archive fires until it leaves the window; none is silent."""
    rule = rules["GoalGPTWalArchivingFailing"]
    t = limits.backups.archive_failures
    if t.trigger_above != 0:
        raise ValueError("the cases assume any archive failure fires (trigger_above: 0)")
    window = _steps(t.window_s)
    fail = 4  # the scrape that first sees the failure
    length = fail + window + 8
    counter = [3] * fail + [4] * (length - fail)  # a counter from before the case
    name = "pg_stat_archiver_failed_count"
    host = {"host": "db-1"}
    return [
        _group(
            "no failed WAL archive is silent",
            [_series(name, [3] * length, **host)],
            [_expect(rule, (fail + 2) * SCRAPE_S, None)],
        ),
        _group(
            f"one failed WAL archive fires until it is {window * SCRAPE_S}s old",
            [_series(name, counter, **host)],
            [
                _expect(rule, (fail - 1) * SCRAPE_S, None),
                _expect(rule, fail * SCRAPE_S, host),
                _expect(rule, (fail + window - 1) * SCRAPE_S, host),
                _expect(rule, (fail + window + 1) * SCRAPE_S, None),
            ],
        ),
    ]


def _repository(limits: Thresholds, rules: dict[str, dict]) -> list[dict]:
    rule = rules["GoalGPTBackupRepositoryUnreadable"]
    hold = _steps(limits.dependencies.down_for_s)
    values = [1] * 4 + [0] * (hold + 4)
    fires_at = (4 + hold) * SCRAPE_S
    host = {"host": "mon-1"}
    return [
        _group(
            "the repository unreadable for a scrape short of the limit is silent, then fires",
            [_series("goalgpt_backup_repository_up", values, **host)],
            [_expect(rule, fires_at - SCRAPE_S, None), _expect(rule, fires_at, host)],
        ),
        _group(
            "the backup exporter unreachable fires too",
            [_series("up", values, job="backup", **host)],
            [_expect(rule, fires_at - SCRAPE_S, None), _expect(rule, fires_at, host)],
        ),
    ]
