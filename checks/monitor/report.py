"""What the monitor prints: live alert lines in the triggers' words, and the final summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from checks.monitor.triggers import METRICS, Reading, Trigger
from checks.thresholds import Monitor

LABELS = {
    "max_clients_errors": "MaxClients errors (win)",
    "cache_hit_rate": "Cache hit rate",
    "db_active_connections": "DB active connections",
    "pool_waiting": "Pool waiting queue",
}


STAMP = "%Y-%m-%dT%H:%M:%SZ"


def stamp(at: float) -> str:
    """Unix time as the monitor prints it: 2025-01-31T13:05:00Z."""
    return datetime.fromtimestamp(at, UTC).strftime(STAMP)


def span(seconds: float) -> str:
    """3600 -> '1h', 300 -> '5min', 7.5 -> '7.5s'."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def alert_message(metric: str, value: float | None, pool_max: float | None, m: Monitor) -> str:
    if metric == "max_clients_errors":
        t = m.max_clients_errors
        w = span(t.window_s)
        return (
            f"🚨 MaxClients errors detected: {value:g} in the last {w} "
            f"(target: {t.target}, trigger: >{t.trigger_above} in {w})"
        )
    if metric == "cache_hit_rate":
        t = m.cache_hit_rate
        return (
            f"⚠️ Cache hit rate low: {value:.0f}% "
            f"(target: >{t.target_above_pct:g}%, trigger: <{t.trigger_below_pct:g}%)"
        )
    if metric == "db_active_connections":
        t = m.db_active_connections
        of = f"/{pool_max:g}" if pool_max else ""
        return (
            f"⚠️ DB active connections high: {value:g}{of} "
            f"(trigger: >{t.trigger_above} for {span(t.sustained_s)}+)"
        )
    t = m.pool_waiting
    return (
        f"⚠️ Pool waiting queue: {value:g} requests "
        f"(target: {t.target}, trigger: >{t.trigger_above})"
    )


def action(metric: str, m: Monitor) -> str:
    return getattr(m, metric).action


def trigger_value(metric: str, m: Monitor) -> float:
    """The number the metric's trigger compares with (above it, or below for the hit rate)."""
    if metric == "cache_hit_rate":
        return m.cache_hit_rate.trigger_below_pct
    return getattr(m, metric).trigger_above


def title(metric: str, m: Monitor) -> str:
    """A chart's title: what its line shows."""
    if metric == "max_clients_errors":
        return f"MaxClients errors in the last {span(m.max_clients_errors.window_s)}"
    if metric == "cache_hit_rate":
        return f"Cache hit rate over the last {span(m.cache_hit_rate.window_s)}"
    return LABELS[metric]


def sample_line(reading: Reading) -> str:
    v = reading.values
    parts = [
        f"max_clients={_fmt(v['max_clients_errors'])}",
        f"cache_hit_rate={_fmt(v['cache_hit_rate'], '%')}",
        f"db_active={_fmt(v['db_active_connections'])}",
        f"pool_waiting={_fmt(v['pool_waiting'])}",
    ]
    return " ".join(parts)


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}{unit}" if unit else f"{value:g}"


@dataclass
class Stat:
    count: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None

    def add(self, value: float | None) -> None:
        if value is None:
            return
        self.count += 1
        self.total += value
        self.low = value if self.low is None else min(self.low, value)
        self.high = value if self.high is None else max(self.high, value)

    def as_dict(self) -> dict[str, Any]:
        avg = round(self.total / self.count, 2) if self.count else None
        return {"samples": self.count, "min": self.low, "avg": avg, "max": self.high}


@dataclass
class Summary:
    limits: Monitor
    stats: dict[str, Stat] = field(default_factory=lambda: {m: Stat() for m in METRICS})
    samples: int = 0
    source_errors: int = 0
    elapsed_s: float = 0.0
    stopped_by: str | None = None
    start: float = 0.0  # unix time the range began
    end: float = 0.0

    def add(self, reading: Reading, errors: int) -> None:
        self.samples += 1
        self.source_errors += errors
        for metric in METRICS:
            self.stats[metric].add(reading.values[metric])

    def as_dict(self, triggers: dict[str, Trigger], totals: dict[str, float]) -> dict[str, Any]:
        requests = totals["cache_requests"]
        return {
            "type": "summary",
            "start": stamp(self.start),
            "end": stamp(self.end),
            "samples": self.samples,
            "elapsed_s": round(self.elapsed_s, 1),
            "stopped_by": self.stopped_by,
            "source_errors": self.source_errors,
            "metrics": {m: self.stats[m].as_dict() for m in METRICS},
            "too_many_clients_total": totals["too_many_clients"],
            "cache_requests_total": requests,
            "cache_hit_rate_overall": round(100 * totals["cache_hits"] / requests, 1)
            if requests
            else None,
            "fired": [
                {
                    "metric": m,
                    "times": t.fired,
                    "worst": t.worst,
                    "message": t.first_message,
                    "action": action(m, self.limits),
                }
                for m, t in triggers.items()
                if t.fired
            ],
            "thresholds": self.limits.model_dump(),
        }

    def text(self, triggers: dict[str, Trigger], totals: dict[str, float]) -> str:
        data = self.as_dict(triggers, totals)
        stopped = f", stopped by {self.stopped_by}" if self.stopped_by else ""
        lines = [
            "",
            "=== POOL HEALTH SUMMARY ===",
            f"Ran {span(round(self.elapsed_s, 1))} ({self.samples} samples{stopped}); "
            f"source errors: {self.source_errors}",
            f"{'metric':<24}{'min':>8}{'avg':>8}{'max':>8}   target",
        ]
        for metric in METRICS:
            s = data["metrics"][metric]
            unit = "%" if metric == "cache_hit_rate" else ""
            row = "".join(f"{_fmt(s[k], unit):>8}" for k in ("min", "avg", "max"))
            lines.append(f"{LABELS[metric]:<24}{row}   {target(metric, self.limits)}")
        overall = data["cache_hit_rate_overall"]
        lines.append(
            f"Too-many-clients errors during the run: {data['too_many_clients_total']:g}; "
            f"cache hit rate overall: {_fmt(overall, '%')} "
            f"of {data['cache_requests_total']:g} requests"
        )
        lines += ["", "=== ALERTS ==="]
        if not data["fired"]:
            lines.append("✅ No trigger fired - every metric stayed within its thresholds")
        for fired in data["fired"]:
            metric = fired["metric"]
            lines.append(triggers[metric].first_message + f" - fired {fired['times']}x")
            lines.append(f"   Action: {fired['action']}")
        return "\n".join(lines)


def target(metric: str, m: Monitor) -> str:
    """The target and the trigger, as the summary's last column says them."""
    if metric == "max_clients_errors":
        t = m.max_clients_errors
        return f"{t.target} (trigger >{t.trigger_above} in {span(t.window_s)})"
    if metric == "cache_hit_rate":
        t = m.cache_hit_rate
        return f">{t.target_above_pct:g}% (trigger <{t.trigger_below_pct:g}%)"
    if metric == "db_active_connections":
        t = m.db_active_connections
        return f"<{t.target_below} (trigger >{t.trigger_above} for {span(t.sustained_s)}+)"
    t = m.pool_waiting
    return f"{t.target} (trigger >{t.trigger_above})"
