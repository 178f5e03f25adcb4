"""Three hours of known history for a throwaway Prometheus, one sample a minute.

`Story` says what happened minute by minute (errors, cache requests, active
connections, waiting requests); `series()` is that as the scraped series, which
`tests.support.prometheus.openmetrics` turns into promtool's backfill input.
"""

from __future__ import annotations

import time

MINUTES = 180  # of history, one sample a minute, ending a minute ago
APP = 'instance="app-1:8000",job="goalgpt"'
DB = 'datname="goalgpt",instance="db-1:9187",job="postgres"'


class Story:
    """Three hours of one app host and its database, normal unless a test says otherwise."""

    def __init__(self) -> None:
        self.end = (time.time() // 60 - 1) * 60
        self.times = [self.end - 60 * (MINUTES - 1 - i) for i in range(MINUTES)]
        self.errors: dict[int, int] = {}  # minutes ago -> errors in that minute
        self.hits_per_min, self.misses_per_min = 30, 10
        self.cache: dict[int, tuple[int, int]] = {}  # minutes ago -> (hits, misses) instead
        self.active: dict[int, float] = {}  # minutes ago -> active connections
        self.waiting: dict[int, float] = {}

    def minute(self, ago: int) -> float:
        return self.end - 60 * ago

    def errors_at(self, *minutes_ago: int) -> Story:
        for ago in minutes_ago:
            self.errors[ago] = self.errors.get(ago, 0) + 1
        return self

    def set(self, what: dict[int, float], value: float, first_ago: int, last_ago: int) -> Story:
        for ago in range(last_ago, first_ago + 1):
            what[ago] = value
        return self

    def requests(self, hits: int, misses: int, first_ago: int, last_ago: int) -> Story:
        """Cache requests in each of those minutes, instead of the usual."""
        for ago in range(last_ago, first_ago + 1):
            self.cache[ago] = (hits, misses)
        return self

    def series(self) -> dict[str, dict[float, float]]:
        out: dict[str, dict[float, float]] = {}
        errors = hits = misses = 0.0
        for at in self.times:
            ago = round((self.end - at) / 60)
            errors += self.errors.get(ago, 0)
            minute_hits, minute_misses = self.cache.get(
                ago, (self.hits_per_min, self.misses_per_min)
            )
            hits += minute_hits
            misses += minute_misses
            points = {
                f'goalgpt_db_too_many_clients_total{{{APP},source="connect"}}': errors,
                f'goalgpt_cache_requests_total{{{APP},result="hit"}}': hits,
                f'goalgpt_cache_requests_total{{{APP},result="stale"}}': 0,
                f'goalgpt_cache_requests_total{{{APP},result="miss"}}': misses,
                f"goalgpt_db_pool_waiting{{{APP}}}": self.waiting.get(ago, 0),
                f"goalgpt_db_pool_max{{{APP}}}": 50,
                f'pg_stat_activity_count{{{DB},state="active"}}': self.active.get(ago, 10),
                f'pg_stat_activity_count{{{DB},state="idle"}}': 100,
            }
            for key, value in points.items():
                out.setdefault(key, {})[at] = value
        return out
