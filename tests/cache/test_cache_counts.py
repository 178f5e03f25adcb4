"""What the shared cache counts, read as differences of this process's Prometheus samples.

Every lookup is counted once by result (hit, miss, stale), every single-flight
call by level and outcome, every failed Redis call by operation. Redis failures
are real: a Redis server of the test's own is stopped, before a lookup or while
the value is being loaded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import redis
from prometheus_client import REGISTRY

from app.cache import HolderFailed, SharedCache
from tests.support.clock import ManualClock
from tests.support.predictions import group_waiters, once_subscribed
from tests.support.servers import RedisServer, free_port
from tests.support.waiting import wait_for

KEY = "goalgpt:v1:predictions:matched:counts"
TTL_S = 1  # of the caches whose entries go stale in a test
NAMES = {
    "cache": "goalgpt_cache_requests_total",
    "flight": "goalgpt_singleflight_total",
    "redis": "goalgpt_redis_errors_total",
}


class Counts:
    """Differences of the counters since this object was made."""

    def __init__(self) -> None:
        self.start = self._all()

    @staticmethod
    def _all() -> dict[tuple, float]:
        values = {}
        for metric in REGISTRY.collect():
            for s in metric.samples:
                if s.name in NAMES.values():
                    values[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return values

    def delta(self) -> dict[str, float]:
        """{'cache:result=hit': 2, 'flight:level=fleet,outcome=executed': 1, ...}, non-zero only."""
        short = {v: k for k, v in NAMES.items()}
        out = {}
        for (name, labels), value in self._all().items():
            diff = value - self.start.get((name, labels), 0.0)
            if diff:
                label_text = ",".join(f"{k}={v}" for k, v in labels)
                out[f"{short[name]}:{label_text}"] = diff
        return out


def make_cache(url: str, **kwargs) -> SharedCache:
    options = {"ttl_s": 30, "stale_s": 30, "flight_timeout_s": 5} | kwargs
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return SharedCache(client, **options)


def stale_cache(url: str) -> SharedCache:
    """A cache whose entry for KEY, b"old", has just gone stale (served stale for 30 s);
    its clock then stands still, so what a refresh stores stays fresh."""
    clock = ManualClock()
    cache = make_cache(url, ttl_s=TTL_S, stale_s=30, clock=clock)
    cache.get(KEY, lambda deadline: b"old")
    clock.advance(TTL_S)
    return cache


def test_a_miss_then_a_hit_count_one_each_and_one_executed_flight(redis_url):
    cache = make_cache(redis_url)
    counts = Counts()

    first = cache.get(KEY, lambda deadline: b"v")
    second = cache.get(KEY, lambda deadline: b"other")

    assert (first.body, first.result, second.body, second.result) == (b"v", "miss", b"v", "hit")
    assert counts.delta() == {
        "cache:result=miss": 1,
        "cache:result=hit": 1,
        "flight:level=process,outcome=executed": 1,
        "flight:level=fleet,outcome=executed": 1,
    }


def test_a_local_copy_hit_returns_the_body_and_counts_a_hit(redis_url):
    cache = make_cache(redis_url, local_entries=4)
    cache.get(KEY, lambda deadline: b"v")
    counts = Counts()

    lookup = cache.get(KEY, lambda deadline: b"other")

    assert (lookup.body, lookup.result) == (b"v", "hit")
    assert counts.delta() == {"cache:result=hit": 1}


def test_the_default_keeps_no_local_copy(redis_url):
    cache = make_cache(redis_url)
    cache.get(KEY, lambda deadline: b"v")
    redis.Redis.from_url(redis_url).delete(KEY)

    assert cache.get(KEY, lambda deadline: b"again").result == "miss"


def test_a_stale_answer_counts_stale_and_the_refresh_counts_its_flight(redis_url):
    cache = stale_cache(redis_url)
    refreshed = threading.Event()

    def load(deadline):
        refreshed.set()
        return b"new"

    counts = Counts()
    lookup = cache.get(KEY, load)
    assert refreshed.wait(5)
    client = redis.Redis.from_url(redis_url)
    wait_for(lambda: not client.exists(f"{KEY}:lock"), 5, "the refresh to end", every=0.01)

    assert (lookup.body, lookup.result) == (b"old", "stale")
    assert counts.delta() == {"cache:result=stale": 1, "flight:level=fleet,outcome=executed": 1}
    assert cache.get(KEY, load).body == b"new"


def test_a_refresh_finds_the_lock_taken_and_leaves_it_to_the_other_process(redis_url):
    cache = stale_cache(redis_url)
    client = redis.Redis.from_url(redis_url)
    client.set(f"{KEY}:lock", "other-process", px=5000)
    calls = []

    lookup = cache.get(KEY, lambda deadline: calls.append(1) or b"new")
    time.sleep(0.3)  # give a wrongly started refresh time to show itself

    assert (lookup.body, lookup.result) == (b"old", "stale")
    assert calls == []
    assert client.get(f"{KEY}:lock") == b"other-process"


def test_a_failing_refresh_keeps_the_stale_body_and_is_logged(redis_url, caplog):
    cache = stale_cache(redis_url)
    failed = threading.Event()

    def load(deadline):
        failed.set()
        raise RuntimeError("database said no")

    with caplog.at_level("WARNING", logger="app.cache.shared"):
        assert cache.get(KEY, load).body == b"old"
        assert failed.wait(5)
        wait_for(lambda: caplog.records, 5, "the failure to be logged", every=0.01)

    assert caplog.records[0].getMessage() == f"refreshing {KEY} failed: database said no"
    assert cache.get(KEY, lambda deadline: b"x").result == "stale"


def test_waiters_in_one_process_share_the_flight_and_count_deduplicated(redis_url):
    cache = make_cache(redis_url)
    gate, started = threading.Event(), threading.Event()

    def slow(deadline):
        started.set()
        gate.wait(5)
        return b"v"

    counts = Counts()
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(KEY, slow)))]
    threads[0].start()
    assert started.wait(5)
    threads += [threading.Thread(target=lambda: results.append(cache.get(KEY, slow)))]
    threads[1].start()
    wait_for(lambda: group_waiters(cache._group, KEY), 5, "the second thread to wait", every=0.01)
    gate.set()
    for t in threads:
        t.join()

    assert [r.body for r in results] == [b"v", b"v"]
    assert counts.delta() == {
        "cache:result=miss": 2,
        "flight:level=process,outcome=executed": 1,
        "flight:level=process,outcome=deduplicated": 1,
        "flight:level=fleet,outcome=executed": 1,
    }


@contextmanager
def holder_loading(holder: SharedCache, outcome: bytes | Exception) -> Iterator[threading.Event]:
    """`holder` loading KEY in a thread until the test sets the gate it yields; the load
    then returns or raises `outcome`, and so does the holder's lookup."""
    gate, started = threading.Event(), threading.Event()

    def load(deadline: float) -> bytes:
        started.set()
        assert gate.wait(5), "the test never opened the gate"
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(holder.get, KEY, load)
        try:
            assert started.wait(5), "the holder never started loading"
            yield gate
        finally:
            gate.set()
        if isinstance(outcome, Exception):
            assert held.exception(timeout=10) is outcome
        else:
            assert held.result(timeout=10).body == outcome


def waiter_lookup(waiter: SharedCache, gate: threading.Event):
    """`waiter`'s lookup of KEY; the holder's gate opens once the waiter listens for it."""
    return once_subscribed(
        waiter.client, KEY, lambda: waiter.get(KEY, lambda deadline: b"never"), gate.set
    )


def test_a_waiter_in_another_process_gets_the_body_and_counts_fleet_deduplicated(redis_url):
    holder, waiter = make_cache(redis_url), make_cache(redis_url)
    with holder_loading(holder, b"v") as gate:
        counts = Counts()
        started_waiting = time.monotonic()
        lookup = waiter_lookup(waiter, gate)
        waited_s = time.monotonic() - started_waiting

    assert (lookup.body, lookup.result) == (b"v", "miss")
    assert counts.delta()["flight:level=fleet,outcome=deduplicated"] == 1
    # Woken by the holder's message, not by its 5 s lock running out.
    assert waited_s < 4, waited_s


def test_a_failed_holder_tells_the_waiters_in_other_processes(redis_url):
    holder, waiter = make_cache(redis_url), make_cache(redis_url)
    failed = pytest.raises(HolderFailed, match=r"^the process loading this key failed$")
    with holder_loading(holder, RuntimeError("database said no")) as gate, failed:
        waiter_lookup(waiter, gate)


def test_a_value_stored_just_before_the_lock_was_taken_is_not_loaded_again(redis_url):
    holder, late = make_cache(redis_url), make_cache(redis_url)
    holder.get(KEY, lambda deadline: b"v")
    counts = Counts()

    # `late` looked before the store and then took the lock: it must find the value.
    body = late._load_fleetwide(KEY, lambda deadline: b"loaded again")

    assert body == b"v"
    assert counts.delta() == {"flight:level=fleet,outcome=deduplicated": 1}


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def test_redis_down_serves_from_the_loader_with_one_flight_per_process(own_redis):
    cache = make_cache(own_redis.url)
    own_redis.stop()
    counts = Counts()

    lookup = cache.get(KEY, lambda deadline: b"from the database")

    assert (lookup.body, lookup.result) == (b"from the database", "miss")
    assert counts.delta() == {
        "redis:operation=get": 1,
        "cache:result=miss": 1,
        "flight:level=process,outcome=executed": 1,
    }


def test_redis_failing_while_the_holder_loads_counts_each_failed_call(own_redis):
    cache = make_cache(own_redis.url)
    seen = []

    def load(deadline):
        seen.append(deadline - time.monotonic())
        own_redis.stop()  # Redis dies while the database answers
        return b"body"

    counts = Counts()
    lookup = cache.get(KEY, load)

    assert (lookup.body, lookup.result) == (b"body", "miss")
    delta = counts.delta()
    assert {k: delta[k] for k in delta if k.startswith("redis")} == {
        "redis:operation=set": 1,
        "redis:operation=publish": 1,
        "redis:operation=unlock": 1,
    }
    assert 4 < seen[0] <= 5 - 0.25


def test_redis_failing_while_waiting_for_the_lock_loads_here(own_redis):
    cache = make_cache(own_redis.url)
    client = redis.Redis.from_url(own_redis.url)
    client.set(f"{KEY}:lock", "holder", px=5000)
    seen = []

    def load(deadline):
        seen.append(deadline - time.monotonic())
        return b"body"

    counts = Counts()
    lookup = once_subscribed(client, KEY, lambda: cache.get(KEY, load), own_redis.stop)

    assert lookup.body == b"body"
    assert counts.delta()["redis:operation=lock"] == 1
    assert 4 < seen[0] <= 5


def test_a_redis_that_never_answers_is_counted_not_raised():
    cache = make_cache(f"redis://127.0.0.1:{free_port()}/0", local_entries=4)
    counts = Counts()

    assert cache.get(KEY, lambda deadline: b"v").body == b"v"
    assert cache.get(KEY, lambda deadline: b"w").body == b"w", "nothing kept without Redis"
    assert counts.delta()["redis:operation=get"] == 2


def test_without_redis_each_key_has_its_own_flight_and_a_deadline_to_meet(own_redis):
    cache = make_cache(own_redis.url)
    own_redis.stop()
    gate, started, left = threading.Event(), threading.Event(), []

    def slow(deadline):
        left.append(deadline - time.monotonic())
        started.set()
        gate.wait(5)
        return b"first key"

    first = threading.Thread(target=cache.get, args=(KEY, slow))
    first.start()
    try:
        assert started.wait(5)
        other = cache.get(f"{KEY}:other", lambda deadline: b"other key")
    finally:
        gate.set()
        first.join()

    assert (other.body, other.result) == (b"other key", "miss")
    assert 4 < left[0] <= 5
