"""Turn samples into the four pool-health readings and decide which triggers fire.

One decision function per threshold (`too_many_refusals`, `hit_rate_pct` with
`hit_rate_low`, `too_many_active`, `too_many_waiting`): the monitor, raise_pool's
watch (the monitor), the smoke gate (checks/test_metrics.py) and the alert rules'
tests (tests/monitoring/rule_cases.py) all decide with them.

Counters become increases between samples (a drop means the process restarted
and counted from 0 again, as Prometheus' increase() assumes); increases are
summed over a sliding window ("> 3 in 1 hour"); a gauge must stay above its
limit for a span ("> 45 for 5 min+"). Times are monotonic seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from checks.monitor.sources import Sample, SeriesKey
from checks.thresholds import (
    CacheHitRate,
    DbActiveConnections,
    MaxClientsErrors,
    Monitor,
    PoolWaiting,
)

METRICS = ("max_clients_errors", "cache_hit_rate", "db_active_connections", "pool_waiting")


def too_many_refusals(count: float | None, t: MaxClientsErrors) -> bool:
    """The trigger's "> 3 in 1 hour": `count` refusals for lack of a slot in the window."""
    return count is not None and count > t.trigger_above


def hit_rate_pct(hits: float, requests: float, t: CacheHitRate) -> float | None:
    """(hit + stale) / all requests, in percent; None for fewer than min_requests."""
    if requests < t.min_requests:
        return None
    return 100.0 * hits / requests


def hit_rate_low(rate_pct: float | None, t: CacheHitRate) -> bool:
    """The trigger's "< 50 %"."""
    return rate_pct is not None and rate_pct < t.trigger_below_pct


def too_many_active(active: float | None, t: DbActiveConnections) -> bool:
    """The trigger's "> 45" active connections, at one moment (`Sustained` adds "for 5 min+")."""
    return active is not None and active > t.trigger_above


def too_many_waiting(waiting: float | None, t: PoolWaiting) -> bool:
    """The trigger's "> 5 requests" waiting for a pooled connection."""
    return waiting is not None and waiting > t.trigger_above


class CounterIncrease:
    """Per-series increase since the previous sample; each URL's first scrape is the baseline."""

    def __init__(self) -> None:
        self.last: dict[SeriesKey, float] = {}
        self.baselined: set[str] = set()

    def step(self, values: dict[SeriesKey, float], scraped: list[str]) -> dict[SeriesKey, float]:
        increases = {}
        for key, value in values.items():
            previous = self.last.get(key, 0.0 if key[0] in self.baselined else None)
            if previous is not None:
                increases[key] = value - previous if value >= previous else value
            self.last[key] = value
        self.baselined.update(scraped)
        return increases


class Window:
    """Sum of amounts seen in the last `span_s` seconds."""

    def __init__(self, span_s: float) -> None:
        self.span_s = span_s
        self.events: deque[tuple[float, float]] = deque()

    def add(self, now: float, amount: float) -> None:
        if amount:
            self.events.append((now, amount))

    def total(self, now: float) -> float:
        while self.events and self.events[0][0] <= now - self.span_s:
            self.events.popleft()
        return sum(amount for _, amount in self.events)


class Sustained:
    """True once the active connections have been too many for at least `sustained_s`."""

    def __init__(self, t: DbActiveConnections) -> None:
        self.t = t
        self.since: float | None = None

    def update(self, now: float, value: float | None) -> bool:
        if not too_many_active(value, self.t):
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return now - self.since >= self.t.sustained_s


@dataclass(frozen=True)
class Reading:
    """The four metrics at one sample; None where nothing could be measured."""

    values: dict[str, float | None]
    breached: dict[str, bool]
    pool_max: float | None


def breaches(values: dict[str, float | None], m: Monitor, active: bool) -> dict[str, bool]:
    """Which of the four readings is past its trigger; `active` is the Sustained verdict."""
    return {
        "max_clients_errors": too_many_refusals(values["max_clients_errors"], m.max_clients_errors),
        "cache_hit_rate": hit_rate_low(values["cache_hit_rate"], m.cache_hit_rate),
        "db_active_connections": active,
        "pool_waiting": too_many_waiting(values["pool_waiting"], m.pool_waiting),
    }


class Evaluator:
    def __init__(self, limits: Monitor) -> None:
        self.limits = limits
        self.too_many = CounterIncrease()
        self.cache = CounterIncrease()
        self.errors_window = Window(limits.max_clients_errors.window_s)
        self.hits_window = Window(limits.cache_hit_rate.window_s)
        self.requests_window = Window(limits.cache_hit_rate.window_s)
        self.active = Sustained(limits.db_active_connections)
        self.totals = {"too_many_clients": 0.0, "cache_hits": 0.0, "cache_requests": 0.0}

    def step(self, now: float, sample: Sample) -> Reading:
        values = {
            "max_clients_errors": self._max_clients(now, sample),
            "cache_hit_rate": self._hit_rate(now, sample),
            "db_active_connections": sample.db_active,
            "pool_waiting": sample.pool_waiting,
        }
        active = self.active.update(now, sample.db_active)
        breached = breaches(values, self.limits, active)
        return Reading(values, breached, sample.pool_max or None)

    def _max_clients(self, now: float, sample: Sample) -> float | None:
        increase = sum(self.too_many.step(sample.too_many_clients, sample.scraped).values())
        self.errors_window.add(now, increase)
        self.totals["too_many_clients"] += increase
        return self.errors_window.total(now) if sample.scraped else None

    def _hit_rate(self, now: float, sample: Sample) -> float | None:
        increases = self.cache.step(sample.cache_requests, sample.scraped)
        hits = sum(
            v
            for (_, labels), v in increases.items()
            if dict(labels).get("result") in ("hit", "stale")
        )
        requests = sum(increases.values())
        self.hits_window.add(now, hits)
        self.requests_window.add(now, requests)
        self.totals["cache_hits"] += hits
        self.totals["cache_requests"] += requests
        return hit_rate_pct(
            self.hits_window.total(now), self.requests_window.total(now), self.limits.cache_hit_rate
        )


@dataclass
class Trigger:
    """One metric's alert state: fires once per episode, resolves when the breach ends."""

    metric: str
    firing: bool = False
    fired: int = 0
    worst: float | None = None
    first_message: str = ""

    def update(self, breached: bool, value: float | None) -> str | None:
        """'fired', 'resolved' or None (no change)."""
        if breached:
            self.worst = value if self.worst is None else self._worse(value)
        if breached and not self.firing:
            self.firing, self.fired = True, self.fired + 1
            return "fired"
        if self.firing and not breached:
            self.firing = False
            return "resolved"
        return None

    def _worse(self, value: float | None) -> float | None:
        if value is None or self.worst is None:
            return self.worst
        return min(self.worst, value) if self.metric == "cache_hit_rate" else max(self.worst, value)
