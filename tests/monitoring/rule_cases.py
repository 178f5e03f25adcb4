"""`promtool test rules` cases at each threshold's edge, computed from the thresholds.

One test group per situation the seed describes: the series a scrape would
store (1 sample a minute), the times the rules are evaluated (every 30 s, so
some evaluations fall between scrapes, as in production) and the alerts
expected then. The numbers come from `checks/thresholds.yml`, so a changed
threshold moves the cases with it, and whether each case fires is decided by the
monitor's own decision functions (checks/monitor/triggers.py): a rule that drifts
from the threshold, or from the way the monitor and the smoke gate compare with it,
fails them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from checks.monitor.triggers import (
    hit_rate_low,
    hit_rate_pct,
    too_many_active,
    too_many_refusals,
    too_many_waiting,
)
from checks.thresholds import Monitor, Thresholds

EVALUATION_INTERVAL_S = 30
TOO_MANY = "goalgpt_db_too_many_clients_total"
CACHE = "goalgpt_cache_requests_total"
ACTIVE = "pg_stat_activity_count"
WAITING = "goalgpt_db_pool_waiting"
BOUNCER_WAITING = "pgbouncer_pools_client_waiting_connections"
USED_CLIENTS = "pgbouncer_lists_used_clients"
MAX_CLIENT_CONN = "pgbouncer_config_max_client_connections"

Values = list[float | None]  # one per minute; None = no sample (target down)


def document(rule_file: str, limits: Thresholds, rules: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole promtool test file for `rule_file`, rendered from `limits`."""
    by_name = {rule["alert"]: rule for rule in rules}
    tests = []
    for build in (_max_clients, _cache_hit_rate, _active_connections, _pool_waiting):
        tests += build(limits.monitor, by_name)
    tests += _client_slots(limits.pgbouncer.client_slots.trigger_above_pct, by_name)
    return {
        "rule_files": [rule_file],
        "evaluation_interval": f"{EVALUATION_INTERVAL_S}s",
        "tests": tests,
    }


def _minutes(seconds: float, what: str) -> int:
    if seconds % 60:
        raise ValueError(f"{what}={seconds:g}s: the promtool cases need whole minutes")
    return int(seconds // 60)


def _series(name: str, values: Values, **labels: str) -> dict[str, str]:
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {
        "series": f"{name}{{{label_text}}}",
        "values": " ".join("_" if v is None else f"{v:g}" for v in values),
    }


def _counter(events: dict[int, float], length: int, start: float = 0) -> Values:
    """A counter sampled each minute that grows by events[minute] at that minute."""
    values, total = [], start
    for minute in range(length):
        total += events.get(minute, 0)
        values.append(total)
    return values


def _times(until_min: int) -> list[int]:
    """Every evaluation (in seconds) from 0 to `until_min` minutes."""
    return list(range(0, until_min * 60 + 1, EVALUATION_INTERVAL_S))


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m{seconds % 60}s" if seconds % 60 else f"{seconds // 60}m"


def _expect(rule: dict[str, Any], at_s: int, value: float | None) -> dict[str, Any]:
    """An alert_rule_test entry: `rule` firing with `value` at `at_s`, or silent (None)."""
    test: dict[str, Any] = {"eval_time": _duration(at_s), "alertname": rule["alert"]}
    if value is None:
        test["exp_alerts"] = []
        return test
    annotations = {
        key: text.replace("{{ $value }}", f"{value:g}") for key, text in rule["annotations"].items()
    }
    test["exp_alerts"] = [{"exp_labels": rule["labels"], "exp_annotations": annotations}]
    return test


def _group(name: str, series: list[dict[str, str]], checks: list[dict[str, Any]]) -> dict:
    return {"name": name, "interval": "1m", "input_series": series, "alert_rule_test": checks}


def _silent(rule: dict[str, Any], until_min: int) -> list[dict[str, Any]]:
    return [_expect(rule, t, None) for t in _times(until_min)]


def _judged(rule: dict[str, Any], at_s: int, value: float, fires: bool) -> dict[str, Any]:
    """`rule` firing with `value` at `at_s` if the monitor's decision says it fires."""
    return _expect(rule, at_s, value if fires else None)


def _throughout(rule: dict[str, Any], until_min: int, value: float, fires: bool) -> list[dict]:
    return [_judged(rule, t, value, fires) for t in _times(until_min)]


def _both_sides(what: str, at_edge: bool, past_it: bool) -> None:
    """The cases stand at the edge and one step past it only if the decision says so."""
    if at_edge or not past_it:
        raise ValueError(f"{what}: the edge case must stay silent and the next one fire")


def _decision(what: str, decide: Callable[[float, Any], bool], t: Any) -> Callable[[float], bool]:
    """The monitor's `decide` against threshold `t`, checked to stay silent at its
    trigger_above and to fire one past it."""

    def fires(value: float) -> bool:
        return decide(value, t)

    _both_sides(what, fires(t.trigger_above), fires(t.trigger_above + 1))
    return fires


def _max_clients(limits: Monitor, rules: dict[str, dict]) -> list[dict]:
    rule = rules["GoalGPTMaxClientsErrors"]
    at_most = limits.max_clients_errors.trigger_above
    fires = _decision("max_clients_errors", too_many_refusals, limits.max_clients_errors)
    window = _minutes(limits.max_clients_errors.window_s, "max_clients_errors.window_s")
    length = window + 20
    first = 5  # the first error's minute

    def burst(count: int) -> Values:
        return _counter({first + i: 1 for i in range(count)}, length)

    last = first + at_most  # the minute of error number at_most + 1
    over = [_judged(rule, (last - 1) * 60 + 30, at_most, fires(at_most))]  # so far
    over += [
        _judged(rule, t * 60, at_most + 1, fires(at_most + 1)) for t in (last, first + window - 1)
    ]
    over.append(_expect(rule, (first + window) * 60, None))  # the first error left the window

    gap = window // at_most + 1  # at_most + 1 errors spanning more than the window
    spread = _counter({first + i * gap: 1 for i in range(at_most + 1)}, length + gap)

    before = math.ceil((at_most + 1) / 2)  # errors before a restart; the rest after it
    restart = first + before + 1
    one_process = _counter({first + i: 1 for i in range(before)}, restart)
    one_process[restart - 1] = None  # down for a scrape
    after_counts = _counter({i: 1 for i in range(1, at_most + 1 - before + 1)}, length - restart)
    restarted = one_process + after_counts
    restart_fires_at = restart + at_most + 1 - before
    quiet_restart = one_process + _counter(
        {i: 1 for i in range(1, at_most - before + 1)}, length - restart
    )

    half = (at_most + 1) // 2
    two_hosts = [
        _series(TOO_MANY, burst(half), instance="app-1", source="connect"),
        _series(TOO_MANY, burst(at_most + 1 - half), instance="app-2", source="query"),
    ]
    return [
        _group(
            f"{at_most} too-many-clients errors in the window stay silent",
            [_series(TOO_MANY, burst(at_most), instance="app-1", source="connect")],
            _throughout(rule, length - 1, at_most, fires(at_most)),
        ),
        _group(
            f"{at_most + 1} errors in the window fire until the first leaves it",
            [_series(TOO_MANY, burst(at_most + 1), instance="app-1", source="connect")],
            over,
        ),
        _group(
            f"{at_most + 1} errors spread over more than the window stay silent",
            [_series(TOO_MANY, spread, instance="app-1", source="connect")],
            _silent(rule, length + gap - 1),
        ),
        _group(
            f"{at_most + 1} errors across a process restart in the window fire",
            [_series(TOO_MANY, restarted, instance="app-1", source="connect")],
            [
                _judged(rule, (restart_fires_at - 1) * 60, at_most, fires(at_most)),
                _judged(rule, restart_fires_at * 60, at_most + 1, fires(at_most + 1)),
            ],
        ),
        _group(
            f"{at_most} errors across a process restart stay silent",
            [_series(TOO_MANY, quiet_restart, instance="app-1", source="connect")],
            _throughout(rule, length - 1, at_most, fires(at_most)),
        ),
        _group(
            f"{at_most + 1} errors summed over two app hosts fire",
            two_hosts,
            [_judged(rule, last * 60, at_most + 1, fires(at_most + 1))],
        ),
    ]


def _cache_series(per_minute: list[dict[str, float]], instance: str = "app-1") -> list[dict]:
    """Counters per result from minute-by-minute request counts; {} = process restarted."""
    series = []
    for result in ("hit", "stale", "miss"):
        values: Values = []
        total = 0.0
        for minute in per_minute:
            if minute == {}:
                values.append(None)
                total = 0.0
                continue
            total += minute.get(result, 0)
            values.append(total)
        series.append(_series(CACHE, values, instance=instance, result=result))
    return series


def _cache_hit_rate(limits: Monitor, rules: dict[str, dict]) -> list[dict]:
    rule = rules["GoalGPTCacheHitRateLow"]
    t = limits.cache_hit_rate
    window = _minutes(t.window_s, "cache_hit_rate.window_s")
    requests = max(100, t.min_requests)
    hits_ok = math.ceil(requests * t.trigger_below_pct / 100)  # the rate is exactly at the edge
    if hits_ok == 0:
        raise ValueError("cache_hit_rate.trigger_below_pct=0 can never fire")

    def rate(hits: int, total: int) -> float | None:
        return hit_rate_pct(hits, total, t)

    def fires(hits: int, total: int) -> bool:
        return hit_rate_low(rate(hits, total), t)

    _both_sides("cache_hit_rate", fires(hits_ok, requests), fires(hits_ok - 1, requests))
    _both_sides(
        "cache_hit_rate.min_requests", fires(0, t.min_requests - 1), fires(0, t.min_requests)
    )

    def traffic(hits: int, total: int) -> list[dict[str, float]]:
        stale = hits // 4
        burst = {"hit": hits - stale, "stale": stale, "miss": total - hits}
        return [{"miss": 0}, {"miss": 0}, burst, *([{"miss": 0}] * (window + 2))]

    def at_end(hits: int, total: int) -> list[dict]:
        value = rate(hits, total)
        return [_judged(rule, (window + 1) * 60, value or 0, fires(hits, total))]

    # A restart between two bursts: each counter starts again below where it stopped,
    # so only counting from the new process' zero keeps both bursts (the last
    # process' counters alone would read a rate above the edge).
    hits, misses = hits_ok - 1, requests - hits_ok + 1
    second = {"hit": hits // 2, "miss": misses // 3}
    first = {"hit": hits - second["hit"], "miss": misses - second["miss"]}
    restarted = [{"miss": 0}, first, {}, second, *([{"miss": 0}] * (window + 2))]
    below = rate(hits_ok - 1, requests)
    # Steady traffic at the edge, evaluated between scrapes too: extrapolated
    # increases must not turn exactly the edge into 49.99999999999999 %.
    per_minute = {"hit": hits_ok - hits_ok // 4, "stale": hits_ok // 4}
    per_minute["miss"] = requests - hits_ok
    steady = [{"miss": 0}, *([per_minute] * (window * 4))]
    return [
        _group(
            f"steady traffic at {rate(hits_ok, requests):g}% stays silent between scrapes",
            _cache_series(steady),
            _throughout(rule, window * 4 - 1, rate(hits_ok, requests), fires(hits_ok, requests)),
        ),
        _group(
            f"cache hit rate at {rate(hits_ok, requests):g}% stays silent",
            _cache_series(traffic(hits_ok, requests)),
            at_end(hits_ok, requests),
        ),
        _group(
            f"cache hit rate at {below:g}% fires",
            _cache_series(traffic(hits_ok - 1, requests)),
            [*at_end(hits_ok - 1, requests), _expect(rule, (window + 3) * 60, None)],
        ),
        _group(
            f"{t.min_requests - 1} requests, all misses, say nothing",
            _cache_series(traffic(0, t.min_requests - 1)),
            at_end(0, t.min_requests - 1),
        ),
        _group(
            f"{t.min_requests} requests, all misses, fire",
            _cache_series(traffic(0, t.min_requests)),
            at_end(0, t.min_requests),
        ),
        _group(
            f"cache hit rate at {below:g}% across a process restart fires",
            _cache_series(restarted),
            [_judged(rule, window * 60, below, fires(hits_ok - 1, requests))],
        ),
    ]


def _active_connections(limits: Monitor, rules: dict[str, dict]) -> list[dict]:
    rule = rules["GoalGPTDbActiveConnectionsHigh"]
    t = limits.db_active_connections
    above = t.trigger_above + 1
    fires = _decision("db_active_connections", too_many_active, t)
    span = _minutes(t.sustained_s, "db_active_connections.sustained_s")
    length, start = span + 15, 2

    def active(high_for_min: int) -> list[dict[str, str]]:
        """Above the limit in the samples from minute `start` to `start + high_for_min`."""
        values: Values = [t.trigger_above] * length
        for minute in range(start, min(length, start + high_for_min + 1)):
            values[minute] = above
        return [
            _series(ACTIVE, values, datname="goalgpt", state="active"),
            _series(ACTIVE, [above * 3] * length, datname="goalgpt", state="idle"),
        ]

    fires_at = (start + span) * 60
    return [
        _group(
            f"{t.trigger_above} active connections for {length} min stay silent",
            active(-1),
            _throughout(rule, length - 1, t.trigger_above, fires(t.trigger_above)),
        ),
        _group(
            f"{above} active connections for {span - 1} min stay silent",
            active(span - 1),
            _silent(rule, length - 1),
        ),
        _group(
            f"{above} active connections for {span} min fire",
            active(length),
            [
                _expect(rule, fires_at - EVALUATION_INTERVAL_S, None),
                _judged(rule, fires_at, above, fires(above)),
            ],
        ),
    ]


def _pool_waiting(limits: Monitor, rules: dict[str, dict]) -> list[dict]:
    rule = rules["GoalGPTPoolWaiting"]
    edge = limits.pool_waiting.trigger_above
    fires = _decision("pool_waiting", too_many_waiting, limits.pool_waiting)

    def waiting(total: float) -> list[dict[str, str]]:
        first = math.ceil(total / 2)
        return [
            _series(WAITING, [0, first, first, 0], instance="app-1"),
            _series(WAITING, [0, total - first, total - first, 0], instance="app-2"),
        ]

    def at_bouncer(total: float, in_pools: float = 0) -> list[dict[str, str]]:
        """`in_pools` of `total` waiting in app-1's pool, the rest at PgBouncer (cl_waiting)."""
        pools = _series(WAITING, [0, in_pools, in_pools, 0], instance="app-1")
        rest = total - in_pools
        bouncer = _series(BOUNCER_WAITING, [0, rest, rest, 0], instance="db-1", database="goalgpt")
        return [pools, bouncer]

    def judged(total: float) -> list[dict[str, Any]]:
        """While `total` waits (60-150 s) the rule does what the monitor's decision says."""
        while_waiting = [_judged(rule, t, total, fires(total)) for t in (60, 90, 120, 150)]
        return [_expect(rule, 0, None), *while_waiting, _expect(rule, 180, None)]

    return [
        _group(f"{edge} waiting over the fleet stays silent", waiting(edge), judged(edge)),
        _group(f"{edge + 1} waiting over the fleet fire", waiting(edge + 1), judged(edge + 1)),
        _group(f"{edge} waiting at PgBouncer stays silent", at_bouncer(edge), judged(edge)),
        _group(f"{edge + 1} waiting at PgBouncer fire", at_bouncer(edge + 1), judged(edge + 1)),
        _group(
            f"{edge + 1} waiting over the app pools and PgBouncer fire",
            at_bouncer(edge + 1, in_pools=math.ceil(edge / 2)),
            judged(edge + 1),
        ),
    ]


def _client_slots(trigger_pct: float, rules: dict[str, dict]) -> list[dict]:
    rule = rules["GoalGPTPgBouncerClientSlotsHigh"]
    limit = 1000
    edge = trigger_pct * limit / 100  # clients in use exactly at the threshold

    def used(count: float) -> list[dict[str, str]]:
        labels = {"instance": "db-1:9127", "host": "db-1"}
        return [
            _series(USED_CLIENTS, [0, count, count, 0], **labels),
            _series(MAX_CLIENT_CONN, [limit] * 4, **labels),
        ]

    over = 100 * (edge + 1) / limit
    fires = [_expect(rule, 0, None), _expect(rule, 60, over), _expect(rule, 180, None)]
    for check in fires[1:2]:
        check["exp_alerts"][0]["exp_labels"] = {
            **rule["labels"],
            "instance": "db-1:9127",
            "host": "db-1",
        }
        annotations = check["exp_alerts"][0]["exp_annotations"]
        annotations["summary"] = annotations["summary"].replace("{{ $labels.host }}", "db-1")
    return [
        _group(
            f"{edge:g} of {limit} clients at PgBouncer stay silent", used(edge), _silent(rule, 3)
        ),
        _group(f"{edge + 1:g} of {limit} clients at PgBouncer fire", used(edge + 1), fires),
    ]
