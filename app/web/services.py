"""What the web app's request handlers share: settings, pool, Redis client, cache."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis
from flask import Flask, current_app
from prometheus_client.registry import Collector

from app.cache import SharedCache
from app.config import Settings
from app.infra import redis_client
from app.infra.clock import SYSTEM, Clock
from app.infra.fleet_registry import FleetRegistryCollector
from app.infra.job_stats import JobStatsCollector
from app.infra.names import WEB
from app.infra.queue_metrics import QueueMetricsCollector
from app.infra.tls_expiry import TlsExpiryCollector, endpoints
from app.web import dependencies
from app.web.database import Database
from app.web.dependencies import DependencyCollector

# /readyz and /metrics wait at most this long for the database.
READY_TIMEOUT_S = 2.0


@dataclass
class Services:
    settings: Settings
    db: Database
    redis: redis.Redis  # the cache (REDIS_URL)
    queue_redis: redis.Redis  # the queues, job locks and job stats (RQ_REDIS_URL)
    cache: SharedCache
    # Collectors added to /metrics on every scrape (e.g. job statistics).
    extra_collectors: list[Collector] = field(default_factory=list)

    @classmethod
    def start(
        cls, settings: Settings, *, singleflight: bool = True, clock: Clock = SYSTEM
    ) -> Services:
        client = _fail_fast_client(settings.REDIS_URL, settings)
        queues = _fail_fast_client(settings.RQ_REDIS_URL, settings)
        cache = SharedCache(
            client,
            ttl_s=settings.PREDICTIONS_CACHE_TTL_S,
            stale_s=settings.PREDICTIONS_CACHE_STALE_S,
            flight_timeout_s=settings.SINGLEFLIGHT_TIMEOUT_S,
            singleflight=singleflight,
            local_entries=settings.PREDICTIONS_LOCAL_CACHE_ENTRIES,
            max_refreshes=settings.PREDICTIONS_MAX_REFRESHES,
            clock=clock,
        )
        # Job statistics and queues live in the queue Redis, so any web host's
        # /metrics shows the fleet's jobs.
        collectors: list[Collector] = [
            JobStatsCollector(queues),
            QueueMetricsCollector(queues),
            FleetRegistryCollector(queues),
            TlsExpiryCollector(endpoints(_tls_urls(settings))),
        ]
        db = Database(settings, WEB).open()
        svc = cls(settings, db, client, queues, cache, collectors)
        svc.extra_collectors.append(
            DependencyCollector(lambda: dependencies.check_optional(client, queues))
        )
        return svc

    def dependency_states(self) -> dict[str, str]:
        """Each dependency's state (app/web/dependencies.py), as /readyz reports it."""
        timeout = min(READY_TIMEOUT_S, self.settings.POOL_TIMEOUT_S)
        return dependencies.check(self.db, self.redis, self.queue_redis, timeout)

    def close(self) -> None:
        self.db.close()
        self.redis.close()
        self.queue_redis.close()


def _tls_urls(settings: Settings) -> dict[str, str]:
    """The endpoint label of each connection setting (the same three as /readyz), and
    PostgreSQL itself when DATABASE_URL names PgBouncer (DATABASE_SERVER_URL)."""
    urls = {
        "postgres": settings.DATABASE_URL,
        "redis": settings.REDIS_URL,
        "queue_redis": settings.RQ_REDIS_URL,
    }
    if settings.DATABASE_SERVER_URL:
        urls["postgres_server"] = settings.DATABASE_SERVER_URL
    return urls


def _fail_fast_client(url: str, settings: Settings) -> redis.Redis:
    """Short timeouts, no retries: the web serves without Redis."""
    timeout = settings.REDIS_SOCKET_TIMEOUT_S
    return redis_client.client(url, connect_timeout_s=timeout, timeout_s=timeout, fail_fast=True)


def install(app: Flask, services: Services) -> None:
    app.extensions["goalgpt"] = services


def services() -> Services:
    """The Services of the app handling the current request."""
    return current_app.extensions["goalgpt"]
