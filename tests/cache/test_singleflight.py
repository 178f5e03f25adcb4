"""Single-flight in one process (Group) and across processes (SharedCache on real Redis).

Two SharedCache objects with their own Redis clients stand for two processes:
they share nothing but the Redis server, as gunicorn workers on two hosts would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from app.cache import Group, HolderFailed, SharedCache
from app.cache.local import LocalEntries
from app.infra.lock import RedisLock
from tests.support.clock import TICK, ManualClock
from tests.support.predictions import group_waiters, once_subscribed, subscribers
from tests.support.waiting import wait_for

KEY = "goalgpt:v1:predictions:matched:test"


class Loader:
    """Counts its calls; optionally slow, optionally failing."""

    def __init__(
        self,
        body: bytes = b"[]",
        delay_s: float = 0.0,
        error: Exception | None = None,
        gate: threading.Event | None = None,
    ):
        self.body, self.delay_s, self.error, self.gate = body, delay_s, error, gate
        self.calls = 0
        self.deadlines: list[float] = []
        self.started = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, deadline: float) -> bytes:
        with self._lock:
            self.calls += 1
        self.deadlines.append(deadline)
        self.started.set()
        if self.gate is not None:  # the test says when the load ends
            assert self.gate.wait(10), "the test never let the load end"
        time.sleep(self.delay_s)
        if self.error is not None:
            raise self.error
        return self.body


def concurrently(n: int, fn):
    """Run fn(i) in n threads released together; results (or exceptions) in order."""
    barrier = threading.Barrier(n)

    def call(i: int):
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


def make_cache(redis_url: str, **kwargs) -> SharedCache:
    options = {"ttl_s": 30, "stale_s": 30, "flight_timeout_s": 5} | kwargs
    return SharedCache(redis.Redis.from_url(redis_url), **options)


def while_waited_on(group: Group, n: int, outcome: Callable[[], int]) -> Callable[[], int]:
    """A call for "k" that returns `outcome()` once `n` other callers wait for it."""

    def call() -> int:
        wait_for(lambda: group_waiters(group, "k") == n, 10, f"{n} callers to wait", every=0.01)
        return outcome()

    return call


def test_group_runs_once_for_concurrent_callers_and_shares_the_value():
    group: Group[int] = Group()
    calls = []

    def answer() -> int:
        calls.append(1)
        return 42

    results = concurrently(20, lambda _: group.do("k", while_waited_on(group, 19, answer)))
    assert len(calls) == 1
    assert sorted(results) == [(42, False)] + [(42, True)] * 19


def test_group_gives_the_error_to_every_waiter_and_forgets_it():
    group: Group[int] = Group()

    def failing() -> int:
        raise RuntimeError("database said no")

    results = concurrently(10, lambda _: group.do("k", while_waited_on(group, 9, failing)))
    assert all(isinstance(r, RuntimeError) for r in results)
    assert group.do("k", lambda: 7) == (7, False)


def test_lock_is_exclusive_until_released(redis_url):
    client = redis.Redis.from_url(redis_url)
    held = RedisLock.try_acquire(client, "lock:a", ttl_s=5)
    assert held is not None
    assert RedisLock.try_acquire(client, "lock:a", ttl_s=5) is None
    assert held.release() is True
    assert RedisLock.try_acquire(client, "lock:a", ttl_s=5) is not None


def test_lock_expires_and_an_old_holder_cannot_release_the_new_one(redis_url):
    client = redis.Redis.from_url(redis_url)
    old = RedisLock.try_acquire(client, "lock:b", ttl_s=0.1)
    # The old holder "died": Redis frees the lock when its TTL has passed.
    wait_for(lambda: not client.exists("lock:b"), 5, "the lock to expire", every=0.02)
    new = RedisLock.try_acquire(client, "lock:b", ttl_s=5)
    assert new is not None
    assert old.release() is False
    assert client.get("lock:b") == new.token.encode()


def opens_when(ready: Callable[[], object], what: str) -> threading.Event:
    """A gate that a thread of its own opens once `ready()` holds (or after 10 s)."""
    gate = threading.Event()

    def open_when_ready() -> None:
        try:
            wait_for(ready, 10, what, every=0.01)
        finally:
            gate.set()  # too early on a timeout: the test then fails on what it checks

    threading.Thread(target=open_when_ready, daemon=True).start()
    return gate


def test_processes_share_one_load_and_waiters_get_the_stored_body(redis_url):
    client = redis.Redis.from_url(redis_url)
    caches = [make_cache(redis_url) for _ in range(4)]

    def everyone_waits() -> bool:
        # Ten callers a process: nine wait in it, and three other processes on the holder.
        in_process = sum(group_waiters(cache._group, KEY) for cache in caches)
        return in_process == 36 and subscribers(client, KEY) == 3

    loader = Loader(b'{"n":1}', gate=opens_when(everyone_waits, "the 39 others to wait"))
    results = concurrently(40, lambda i: caches[i % 4].get(KEY, loader))
    assert loader.calls == 1
    assert {r.body for r in results} == {b'{"n":1}'}
    assert {r.result for r in results} == {"miss"}


def test_holder_deadline_ends_before_its_lock_expires(redis_url):
    loader = Loader()
    make_cache(redis_url, flight_timeout_s=2).get(KEY, loader)
    remaining = loader.deadlines[0] - time.monotonic()
    assert 1.0 < remaining < 2.0


def test_waiter_takes_over_when_the_holder_died(redis_url):
    client = redis.Redis.from_url(redis_url)
    # A holder that died: its lock stays until its expiry, nobody will publish.
    client.set(f"{KEY}:lock", "dead-holder", px=300)
    loader = Loader(b"fresh")
    started = time.monotonic()
    assert make_cache(redis_url, flight_timeout_s=5).get(KEY, loader).body == b"fresh"
    assert loader.calls == 1
    assert time.monotonic() - started < 5  # liveness: no wait for the whole timeout


def test_waiters_fail_with_the_holder_and_nothing_is_stored(redis_url):
    client = redis.Redis.from_url(redis_url)
    fail_now = threading.Event()
    failing = Loader(error=RuntimeError("boom"), gate=fail_now)
    holder, waiter = make_cache(redis_url), make_cache(redis_url)
    never = Loader()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(holder.get, KEY, failing)
        assert failing.started.wait(5), "the holder never started loading"
        with pytest.raises(HolderFailed):
            once_subscribed(client, KEY, lambda: waiter.get(KEY, never), fail_now.set)
        with pytest.raises(RuntimeError):
            first.result()
    assert never.calls == 0
    assert redis.Redis.from_url(redis_url).exists(KEY) == 0


def test_an_error_is_not_cached_and_the_next_call_loads_again(redis_url):
    cache = make_cache(redis_url)
    with pytest.raises(RuntimeError):
        cache.get(KEY, Loader(error=RuntimeError("boom")))
    loader = Loader(b"ok")
    assert cache.get(KEY, loader).result == "miss"
    assert cache.get(KEY, loader).result == "hit"
    assert loader.calls == 1


def test_entry_lives_in_redis_for_ttl_plus_stale_window(redis_url):
    make_cache(redis_url, ttl_s=30, stale_s=60).get(KEY, Loader())
    ttl_ms = redis.Redis.from_url(redis_url).pttl(KEY)
    assert 89_000 < ttl_ms <= 90_000


def test_without_singleflight_every_caller_loads(redis_url):
    loader = Loader()
    loader.gate = opens_when(lambda: loader.calls == 10, "every caller to load")
    cache = make_cache(redis_url, singleflight=False)
    started = time.monotonic()
    lookups = concurrently(10, lambda _: cache.get(KEY, loader))
    assert loader.calls == 10
    assert {(lookup.body, lookup.result) for lookup in lookups} == {(b"[]", "miss")}
    assert all(started + 5 - 0.1 < d <= time.monotonic() + 5 for d in loader.deadlines)
    assert make_cache(redis_url).get(KEY, Loader(b"other")).body == b"[]", "not stored"


def test_waiters_are_woken_by_the_store_not_by_polling(redis_url):
    client = redis.Redis.from_url(redis_url)
    # Once subscribed, the waiter waits 1.5 s more: a poller would read 3 times meanwhile.
    store_now = threading.Event()
    loader = Loader(b"body", delay_s=1.5, gate=store_now)
    holder, waiter = make_cache(redis_url), make_cache(redis_url)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(holder.get, KEY, loader)
        assert loader.started.wait(5), "the holder never started loading"
        client.config_resetstat()
        second = once_subscribed(client, KEY, lambda: waiter.get(KEY, loader), store_now.set)
        assert first.result().body == second.body == b"body"
    # Waiter: a look before, one after subscribing, at most two when woken; the
    # holder's Lua release reads once. Polling every 500 ms would add 3 or more.
    reads = client.info("commandstats")["cmdstat_get"]["calls"]
    assert loader.calls == 1
    assert reads <= 5


def test_local_copies_expire_with_the_entry_and_the_oldest_go_first():
    local = LocalEntries(max_entries=2)
    now = time.time()
    local.put("a", b"A", now + 30)
    local.put("b", b"B", now - 1)  # already expired
    local.put("c", b"C", now + 30)
    assert local.get("b") is None
    local.put("d", b"D", now + 30)  # evicts the least recently used: a
    assert (local.get("a"), local.get("c"), local.get("d")) == (None, b"C", b"D")
    assert LocalEntries(0).get("x") is None


def test_a_hit_from_the_local_copy_skips_redis_until_the_entry_expires(redis_url):
    client = redis.Redis.from_url(redis_url)
    clock = ManualClock()
    cache = make_cache(redis_url, ttl_s=1, local_entries=16, clock=clock)
    loader = Loader(b"v1")
    assert cache.get(KEY, loader).result == "miss"
    client.config_resetstat()
    clock.advance(1 - TICK)
    assert cache.get(KEY, loader).result == "hit"
    assert "cmdstat_get" not in client.info("commandstats")
    clock.advance(TICK)  # the 1 s TTL
    assert cache.get(KEY, loader).result == "stale"  # expired here too: back to Redis
