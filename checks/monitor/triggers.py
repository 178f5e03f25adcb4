"""Turn samples into the seed's four readings and decide which triggers fire.

Counters become increases between samples (a drop means the process restarted
and counted from 0 again, as Prometheus' increase() assumes); increases are
summed over a sliding window ("> 3 in 1 hour"); a gauge must stay above its
limit for a span ("> 45 for 5 min+"). Times are monotonic seconds.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from checks.monitor.sources import Sample, SeriesKey
from checks.thresholds import Monitor

METRICS = ("max_clients_errors", "cache_hit_rate", "db_active_connections", "pool_waiting")


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
    """True once a value has stayed above `limit` for at least `span_s` seconds."""

    def __init__(self, limit: float, span_s: float) -> None:
        self.limit = limit
        self.span_s = span_s
        self.since: float | None = None

    def update(self, now: float, value: float | None) -> bool:
        if value is None or value <= self.limit:
            self.since = None
            return False
        if self.since is None:
            self.since = now
        return now - self.since >= self.span_s


@dataclass(frozen=True)
class Reading:
    """The four metrics at one sample; None where nothing could be measured."""

    values: dict[str, float | None]
    breached: dict[str, bool]
    pool_max: float | None


def breaches(values: dict[str, float | None], m: Monitor, active: bool) -> dict[str, bool]:
    """Which of the four readings is past its trigger; `active` is the Sustained verdict."""
    errors, rate, waiting = (
        values[k] for k in ("max_clients_errors", "cache_hit_rate", "pool_waiting")
    )
    return {
        "max_clients_errors": errors is not None and errors > m.max_clients_errors.trigger_above,
        "cache_hit_rate": rate is not None and rate < m.cache_hit_rate.trigger_below_pct,
        "db_active_connections": active,
        "pool_waiting": waiting is not None and waiting > m.pool_waiting.trigger_above,
    }


class Evaluator:
    def __init__(self, limits: Monitor) -> None:
        self.limits = limits
        self.too_many = CounterIncrease()
        self.cache = CounterIncrease()
        self.errors_window = Window(limits.max_clients_errors.window_s)
        self.hits_window = Window(limits.cache_hit_rate.window_s)
        self.requests_window = Window(limits.cache_hit_rate.window_s)
        self.active = Sustained(
            limits.db_active_connections.trigger_above,
            limits.db_active_connections.sustained_s,
        )
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
        in_window = self.requests_window.total(now)
        if in_window < self.limits.cache_hit_rate.min_requests:
            return None
        return 100.0 * self.hits_window.total(now) / in_window


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
