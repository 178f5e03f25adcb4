"""What the web app's request handlers share: settings, pool, Redis client, cache."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from flask import Flask, current_app
from prometheus_client.registry import Collector
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.cache import SharedCache
from app.config import Settings
from app.db import WEB, Database
from app.jobs.stats import JobStatsCollector


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: redis.Redis
    cache: SharedCache
    # Collectors added to /metrics on every scrape (e.g. job statistics).
    extra_collectors: list[Collector] = field(default_factory=list)

    @classmethod
    def start(cls, settings: Settings, *, singleflight: bool = True) -> Services:
        client = redis_client(settings)
        cache = SharedCache(
            client,
            ttl_s=settings.PREDICTIONS_CACHE_TTL_S,
            stale_s=settings.PREDICTIONS_CACHE_STALE_S,
            flight_timeout_s=settings.SINGLEFLIGHT_TIMEOUT_S,
            singleflight=singleflight,
            local_entries=settings.PREDICTIONS_LOCAL_CACHE_ENTRIES,
            max_refreshes=settings.PREDICTIONS_MAX_REFRESHES,
        )
        # Job statistics live in Redis, so any web host's /metrics shows the fleet's jobs.
        collectors: list[Collector] = [JobStatsCollector(client)]
        return cls(settings, Database(settings, WEB).open(), client, cache, collectors)

    def close(self) -> None:
        self.db.close()
        self.redis.close()


def redis_client(settings: Settings) -> redis.Redis:
    """A client that fails fast: short timeouts, no retries (the cache is optional)."""
    timeout = settings.REDIS_SOCKET_TIMEOUT_S
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def install(app: Flask, services: Services) -> None:
    app.extensions["goalgpt"] = services


def services() -> Services:
    """The Services of the app handling the current request."""
    return current_app.extensions["goalgpt"]
