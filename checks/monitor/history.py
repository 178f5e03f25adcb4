"""The monitor's four readings over a past time range, from Prometheus's HTTP API.

`python -m checks.monitor --prometheus-url URL --since 24h`: the values come
from `query_range` with the same PromQL the alert rules compare
(`checks.alert_rules.values`), one point per step; the triggers then run over
those points exactly as over live samples, so the report says which alerts
would have fired and when.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from checks.alert_rules import values as value_queries
from checks.monitor.triggers import METRICS, Reading, Sustained, breaches
from checks.thresholds import Monitor

POOL_MAX = "sum(goalgpt_db_pool_max)"
TOTALS = {
    "too_many_clients": "sum(increase(goalgpt_db_too_many_clients_total[{since}]))",
    "cache_hits": 'sum(increase(goalgpt_cache_requests_total{{result=~"hit|stale"}}[{since}]))',
    "cache_requests": "sum(increase(goalgpt_cache_requests_total[{since}]))",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class PrometheusError(Exception):
    """Prometheus could not answer; the message is one line for the operator."""


def parse_duration(text: str) -> float:
    """'24h', '10m', '90s', '1d' -> seconds; ValueError for anything else."""
    match = _DURATION.fullmatch(text.strip())
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{text!r} is not a duration like 90s, 10m, 24h or 1d")
    return float(match[1]) * _UNITS[match[2]]


def prometheus_duration(seconds: float) -> str:
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{int(seconds * 1000)}ms"


@dataclass(frozen=True)
class History:
    """One Reading per step, and the counters' increase over the whole range."""

    points: list[tuple[float, Reading]]
    totals: dict[str, float]

    @property
    def has_data(self) -> bool:
        return any(v is not None for _, r in self.points for v in r.values.values())


class Prometheus:
    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def range(self, query: str, start: float, end: float, step: float) -> dict[float, float]:
        """The single series `query` returns (it must aggregate): timestamp -> value."""
        data = self._get(
            "query_range", query=query, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}"
        )
        return {
            round(float(t), 3): float(v) for series in data["result"] for t, v in series["values"]
        }

    def instant(self, query: str, at: float) -> float | None:
        data = self._get("query", query=query, time=f"{at:.3f}")
        results = data["result"]
        return float(results[0]["value"][1]) if results else None

    def vector(self, query: str) -> list[tuple[dict[str, str], float]]:
        """Every series `query` returns now, as (labels, value)."""
        data = self._get("query", query=query)
        return [(series["metric"], float(series["value"][1])) for series in data["result"]]

    def _get(self, endpoint: str, **params: str) -> dict[str, Any]:
        url = f"{self.url}/api/v1/{endpoint}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            raise PrometheusError(f"{self.url} answered HTTP {exc.code}: {_error(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise PrometheusError(f"cannot reach Prometheus at {self.url}: {reason}") from None
        except ValueError:
            raise PrometheusError(f"{self.url} did not answer JSON: is it Prometheus?") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", body) if isinstance(body, dict) else body
            raise PrometheusError(f"{self.url} refused the query: {error}")
        return body["data"]


def _error(exc: urllib.error.HTTPError) -> str:
    try:
        return json.load(exc).get("error", exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason)


def read(prometheus: Prometheus, limits: Monitor, start: float, end: float, step: float) -> History:
    """Every step's readings between `start` and `end`, the triggers applied as they went."""
    queries = value_queries(limits)
    series = {m: prometheus.range(queries[m], start, end, step) for m in METRICS}
    pool_max = prometheus.range(POOL_MAX, start, end, step)
    since = prometheus_duration(end - start)
    totals = {
        name: round(prometheus.instant(query.format(since=since), end) or 0.0)
        for name, query in TOTALS.items()
    }
    active = Sustained(limits.db_active_connections)
    points = []
    count = int((end - start) // step) + 1
    # query_range answers at start + i*step (milliseconds); keys are rounded alike.
    for t in (round(round(start, 3) + i * step, 3) for i in range(count)):
        values = {m: series[m].get(t) for m in METRICS}
        points.append((t, _reading(values, limits, active, t, pool_max.get(t))))
    return History(points, totals)


def _reading(
    values: dict[str, float | None],
    limits: Monitor,
    active: Sustained,
    t: float,
    pool_max: float | None,
) -> Reading:
    breached = breaches(values, limits, active.update(t, values["db_active_connections"]))
    return Reading(values, breached, pool_max or None)
