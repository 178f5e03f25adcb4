"""A Redis lock for one holder across processes and hosts.

SET NX PX with a random token; the expiry frees the lock if its holder dies,
and release is a Lua compare-and-delete, so a holder whose lock expired never
deletes the lock someone else took since.
"""

from __future__ import annotations

import secrets
import time

import redis

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLock:
    """A held lock: `expires_at` (time.monotonic()) is when Redis frees it on its own."""

    def __init__(self, client: redis.Redis, name: str, token: str, expires_at: float) -> None:
        self.client = client
        self.name = name
        self.token = token
        self.expires_at = expires_at

    @classmethod
    def try_acquire(cls, client: redis.Redis, name: str, ttl_s: float) -> RedisLock | None:
        """The lock if it was free, else None. Never waits."""
        token = secrets.token_hex(16)
        started = time.monotonic()
        if client.set(name, token, nx=True, px=max(1, int(ttl_s * 1000))):
            return cls(client, name, token, started + ttl_s)
        return None

    def release(self) -> bool:
        """Delete the lock if this holder still owns it; False if it had expired."""
        return bool(self.client.eval(_RELEASE, 1, self.name, self.token))
