"""The one Redis lock: one holder across processes and hosts (cache, matches, jobs).

SET NX PX with a random token; the expiry frees the lock if its holder dies.
Release and renew are Lua compare-and-act, so a holder whose lock expired never
deletes or extends the lock someone else took since.
"""

from __future__ import annotations

import secrets

import redis

from app.infra.clock import SYSTEM, Clock

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""


class RedisLock:
    """A held lock: `expires_at` (the clock's monotonic()) is when Redis frees it on its own."""

    def __init__(
        self, client: redis.Redis, name: str, token: str, expires_at: float, clock: Clock = SYSTEM
    ) -> None:
        self.client = client
        self.name = name
        self.token = token
        self.expires_at = expires_at
        self.clock = clock

    @classmethod
    def try_acquire(
        cls, client: redis.Redis, name: str, ttl_s: float, clock: Clock = SYSTEM
    ) -> RedisLock | None:
        """The lock if it was free, else None. Never waits."""
        token = secrets.token_hex(16)
        started = clock.monotonic()
        if client.set(name, token, nx=True, px=_ms(ttl_s)):
            return cls(client, name, token, started + ttl_s, clock)
        return None

    def renew(self, ttl_s: float) -> bool:
        """Expire `ttl_s` from now if this holder still owns it; False if it had expired."""
        started = self.clock.monotonic()
        if self.client.eval(_RENEW, 1, self.name, self.token, _ms(ttl_s)):
            self.expires_at = started + ttl_s
            return True
        return False

    def release(self) -> bool:
        """Delete the lock if this holder still owns it; False if it had expired."""
        return bool(self.client.eval(_RELEASE, 1, self.name, self.token))


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
