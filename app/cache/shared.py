"""The shared Redis cache with fleet-wide single-flight and stale-while-revalidate.

`SharedCache.get(key, load)` returns the cached body, or runs `load` at most
once at a time for the key across every thread, process and host:

- threads of one process share one call (`Group`);
- processes and hosts coordinate with a Redis lock `<key>:lock` (expiry =
  SINGLEFLIGHT_TIMEOUT_S). The holder gets a deadline before that expiry and
  must finish by it; it stores the body and publishes on `<key>:done`. Waiters
  subscribe to that channel, so they wake when the body is stored, or when the
  holder failed (they fail too: one error, not a retry storm), or when the lock
  expired because the holder died (one of them takes over).

Entries live in Redis for TTL + stale window; past the TTL they are served as
STALE while one background refresh runs. Fresh entries are also kept in process
memory until they expire (`LocalEntries`), so most hits skip the round trip.
Only a body that `load` returned is stored: an exception is never cached.
When Redis fails, `get` serves from `load` with in-process single-flight only
and counts the failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import redis

from app import metrics
from app.cache.local import LocalEntries
from app.cache.singleflight import Group, SingleFlightTimeout
from app.infra.clock import SYSTEM, Clock
from app.infra.keys import flight_done as _channel
from app.infra.keys import flight_lock as _lock
from app.infra.lock import RedisLock

log = logging.getLogger(__name__)

# `load(deadline)` returns the body to cache; `deadline` is a clock.monotonic() it must meet.
Loader = Callable[[float], bytes]

STORED = b"stored"
FAILED = b"failed"
# The holder stops this long before its lock expires, to leave time to store the body.
LOCK_MARGIN_S = 0.25


class HolderFailed(Exception):
    """The process that held the lock failed to load the value; nothing was stored."""


@dataclass(frozen=True)
class Lookup:
    body: bytes
    result: str  # "hit", "miss" or "stale": the X-Cache header, lowercased


@dataclass(frozen=True)
class _Entry:
    body: bytes
    fresh: bool


class SharedCache:
    """Cached bodies in Redis, loaded once per key at a time fleet-wide."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        ttl_s: float,
        stale_s: float,
        flight_timeout_s: float,
        singleflight: bool = True,
        local_entries: int = 0,
        max_refreshes: int = 2,
        clock: Clock = SYSTEM,
    ) -> None:
        """`singleflight=False` exists for the stampede benchmark only.

        `local_entries` fresh entries are also kept in this process's memory.
        At most `max_refreshes` background refreshes run at once in this process:
        each holds a database connection, and the fleet's connection budget
        counts them (checks/capacity/demand.py). A stale key that finds them all
        busy is served stale and refreshed by a later request.
        `clock` is the system's but in tests that stand at a bound's edge.
        """
        self.client = client
        self.clock = clock
        self.ttl_s = ttl_s
        self.stale_s = stale_s
        self.flight_timeout_s = flight_timeout_s
        self.singleflight = singleflight
        # Waiting in-process callers are bounded by the holder's own deadline;
        # this is a liveness guard on top of it.
        self._group: Group[bytes | None] = Group(wait_timeout_s=2 * flight_timeout_s + 1)
        self._local = LocalEntries(local_entries, clock)
        self._refresh_slots = threading.BoundedSemaphore(max_refreshes) if max_refreshes else None

    def get(self, key: str, load: Loader) -> Lookup:
        """The body for `key`: cached (hit or stale) or loaded now (miss)."""
        body = self._local.get(key)
        if body is not None:
            metrics.CACHE_REQUESTS.labels(result="hit").inc()
            return Lookup(body, "hit")
        try:
            entry = self._read(key)
        except redis.RedisError:
            _redis_failed("get")
            metrics.CACHE_REQUESTS.labels(result="miss").inc()
            return Lookup(self._flight(key, lambda: load(self._deadline())), "miss")
        if entry is not None and entry.fresh:
            metrics.CACHE_REQUESTS.labels(result="hit").inc()
            return Lookup(entry.body, "hit")
        # A stale window of 0 is off, also for an entry Redis has not dropped yet (its
        # expiry runs on the Redis host's clock, freshness on the writer's).
        if entry is not None and self.stale_s > 0:
            metrics.CACHE_REQUESTS.labels(result="stale").inc()
            self._refresh_in_background(key, load)
            return Lookup(entry.body, "stale")
        metrics.CACHE_REQUESTS.labels(result="miss").inc()
        if not self.singleflight:
            return Lookup(self._load_and_store(key, load, self._deadline()), "miss")
        return Lookup(self._flight(key, lambda: self._load_fleetwide(key, load)), "miss")

    # -- single-flight --------------------------------------------------------

    def _flight(self, key: str, fn: Callable[[], bytes | None]) -> bytes:
        body, shared = self._group.do(key, fn)
        outcome = "deduplicated" if shared else "executed"
        metrics.SINGLEFLIGHT.labels(level="process", outcome=outcome).inc()
        return body

    def _load_fleetwide(self, key: str, load: Loader) -> bytes:
        # Outlive a dead holder's lock (it lasts flight_timeout_s too), so a waiter
        # is still here to take over when it expires instead of timing out with it.
        deadline = self._deadline() + LOCK_MARGIN_S
        try:
            while True:
                lock = RedisLock.try_acquire(
                    self.client, _lock(key), self.flight_timeout_s, self.clock
                )
                if lock is not None:
                    return self._load_holding(key, load, lock)
                body = self._wait_for_holder(key, deadline)
                if body is not None:
                    metrics.SINGLEFLIGHT.labels(level="fleet", outcome="deduplicated").inc()
                    return body
                if self.clock.monotonic() >= deadline:
                    raise SingleFlightTimeout(f"no result within {self.flight_timeout_s}s")
        except redis.RedisError:
            # Redis failed while coordinating; this process still needs an answer.
            _redis_failed("lock")
            return load(self._deadline())

    def _load_holding(self, key: str, load: Loader, lock: RedisLock) -> bytes:
        """Load and store while holding the fleet lock; waiters learn the outcome."""
        try:
            entry = self._read(key)
            if entry is not None and entry.fresh:  # stored just before we took the lock
                metrics.SINGLEFLIGHT.labels(level="fleet", outcome="deduplicated").inc()
                return entry.body
            metrics.SINGLEFLIGHT.labels(level="fleet", outcome="executed").inc()
            margin = min(LOCK_MARGIN_S, self.flight_timeout_s / 10)
            body = self._load_and_store(key, load, lock.expires_at - margin)
            self._publish(key, STORED)
            return body
        except BaseException:
            self._publish(key, FAILED)
            raise
        finally:
            try:
                lock.release()
            except redis.RedisError:
                _redis_failed("unlock")  # it expires on its own

    def _wait_for_holder(self, key: str, deadline: float) -> bytes | None:
        """The body once the holder stored it; None if the lock is free to take over."""
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            # Subscribe before looking, so a body stored in between is not missed.
            pubsub.subscribe(_channel(key))
            while True:
                entry = self._read(key)
                if entry is not None and entry.fresh:
                    return entry.body
                lock_ms = self.client.pttl(_lock(key))
                wait_s = min(lock_ms / 1000 + 0.005, deadline - self.clock.monotonic())
                if lock_ms < 0 or wait_s <= 0:
                    return None
                message = pubsub.get_message(timeout=wait_s)
                if message is not None and message["data"] == FAILED:
                    raise HolderFailed("the process loading this key failed")
        finally:
            pubsub.close()

    # -- stale-while-revalidate -------------------------------------------------

    def _refresh_in_background(self, key: str, load: Loader) -> None:
        if self._group.in_flight(_refresh(key)):
            return
        if self._refresh_slots is None or not self._refresh_slots.acquire(blocking=False):
            return  # every refresh slot is busy: stay stale, a later request refreshes
        threading.Thread(target=self._refresh, args=(key, load), daemon=True).start()

    def _refresh(self, key: str, load: Loader) -> None:
        try:
            self._group.do(_refresh(key), lambda: self._refresh_unless_taken(key, load))
        except Exception as exc:  # the stale body stays; the next request tries again
            log.warning("refreshing %s failed: %s", key, exc)
        finally:
            assert self._refresh_slots is not None
            self._refresh_slots.release()

    def _refresh_unless_taken(self, key: str, load: Loader) -> bytes | None:
        lock = RedisLock.try_acquire(self.client, _lock(key), self.flight_timeout_s, self.clock)
        if lock is None:
            return None  # another process is refreshing it
        return self._load_holding(key, load, lock)

    # -- Redis entries ------------------------------------------------------------

    def _deadline(self) -> float:
        return self.clock.monotonic() + self.flight_timeout_s

    def _load_and_store(self, key: str, load: Loader, deadline: float) -> bytes:
        body = load(deadline)
        fresh_until = self.clock.time() + self.ttl_s
        try:
            self.client.set(
                key, b"%.6f\n" % fresh_until + body, px=int((self.ttl_s + self.stale_s) * 1000)
            )
        except redis.RedisError:
            _redis_failed("set")
            return body  # not shared, so not kept either: the next request tries Redis again
        self._local.put(key, body, fresh_until)
        return body

    def _read(self, key: str) -> _Entry | None:
        raw = self.client.get(key)
        if raw is None:
            return None
        head, _, body = raw.partition(b"\n")
        fresh_until = float(head)
        if fresh_until <= self.clock.time():
            return _Entry(body, fresh=False)
        self._local.put(key, body, fresh_until)
        return _Entry(body, fresh=True)

    def _publish(self, key: str, message: bytes) -> None:
        try:
            self.client.publish(_channel(key), message)
        except redis.RedisError:
            _redis_failed("publish")


def _refresh(key: str) -> str:
    return f"{key}#refresh"


def _redis_failed(operation: str) -> None:
    metrics.REDIS_ERRORS.labels(operation=operation).inc()
