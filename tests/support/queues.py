"""Redis servers configured as the redis role configures its two instances."""

from __future__ import annotations

from tests.support.servers import RedisServer

# The redis role's two instances (roles/redis/defaults/main.yml), with small memory limits.
CACHE_CONFIG = {"maxmemory": "3mb", "maxmemory-policy": "allkeys-lru"}
QUEUE_CONFIG = {
    "maxmemory": "64mb",
    "maxmemory-policy": "noeviction",
    "appendonly": "yes",
    "appendfsync": "everysec",
}


def job_env(cache: RedisServer, queues: RedisServer, **more: str) -> dict[str, str]:
    """The environment of a worker or tool: the two Redis URLs (with their passwords)."""
    return {"REDIS_URL": cache.url, "RQ_REDIS_URL": queues.url, **more}
