"""The shared cache at its edges: a dead holder's lock, TTL and stale windows, local copies.

Two SharedCache objects with their own Redis clients stand for two processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from app import config
from app.cache import Group, SharedCache, SingleFlightTimeout
from app.cache.local import LocalEntries
from app.cache.shared import LOCK_MARGIN_S, STORED
from app.infra.keys import flight_done
from app.infra.lock import RedisLock
from tests.support.clock import TICK, ManualClock
from tests.support.predictions import asleep_on_channel, once_subscribed, pttl_calls
from tests.support.redis_commands import redis_commands
from tests.support.waiting import wait_for

KEY = "goalgpt:v1:predictions:matched:edges"


class Loader:
    def __init__(self, body: bytes = b"body", gate: threading.Event | None = None) -> None:
        self.body, self.gate = body, gate
        self.calls = 0
        self.deadlines: list[float] = []
        self.started = threading.Event()

    def __call__(self, deadline: float) -> bytes:
        self.calls += 1
        self.deadlines.append(deadline)
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10)
        return self.body


def make_cache(redis_url: str, **kwargs) -> SharedCache:
    options = {"ttl_s": 30, "stale_s": 30, "flight_timeout_s": 5} | kwargs
    return SharedCache(redis.Redis.from_url(redis_url), **options)


@contextmanager
def loading(cache: SharedCache, loader: Loader) -> Iterator[None]:
    """`cache` loading KEY with the gated `loader` in a thread until the block ends."""
    assert loader.gate is not None
    thread = threading.Thread(target=cache.get, args=(KEY, loader))
    thread.start()
    try:
        assert loader.started.wait(5), "the load never started"
        yield
    finally:
        loader.gate.set()
        thread.join()


def hit_again(cache: SharedCache, key: str, loader: Loader) -> None:
    """Wait until the background refresh of `key` stored a fresh entry."""
    wait_for(lambda: cache.get(key, loader).result == "hit", 5, f"{key} refreshed", every=0.02)


def test_a_waiter_that_started_with_a_dead_holders_lock_takes_over_when_it_expires(redis_url):
    # The holder took its lock (SINGLEFLIGHT_TIMEOUT_S long) and died at once; the
    # waiter started at the same moment, so its own bound ends when the lock does.
    client = redis.Redis.from_url(redis_url)
    waiter = make_cache(redis_url, flight_timeout_s=1)
    loader = Loader(b"taken over")
    client.set(f"{KEY}:lock", "dead-holder", px=1000)

    lookup = waiter.get(KEY, loader)

    assert (lookup.body, lookup.result, loader.calls) == (b"taken over", "miss", 1)


def test_a_live_holder_that_never_finishes_times_the_waiter_out(redis_url):
    holder = make_cache(redis_url, flight_timeout_s=1)
    waiter = make_cache(redis_url, flight_timeout_s=1)
    client = redis.Redis.from_url(redis_url)
    never = Loader()
    stop = threading.Event()

    def keep_lock():
        while not stop.wait(0.2):
            client.pexpire(f"{KEY}:lock", 1000)

    with loading(holder, Loader(gate=threading.Event())):
        # The holder's lock keeps being there for the waiter's whole bound: renew it.
        keeper = threading.Thread(target=keep_lock)
        keeper.start()
        try:
            with pytest.raises(SingleFlightTimeout, match=r"^no result within 1s$"):
                waiter.get(KEY, never)
        finally:
            stop.set()
            keeper.join()
    assert never.calls == 0


def test_a_waiter_behind_a_live_holder_gives_up_at_the_default_bound_not_before(redis_url):
    # The real default (10 s) on a clock the test moves: one tick before the waiter's
    # bound (SINGLEFLIGHT_TIMEOUT_S + the margin that lets it outlive a dead holder's
    # lock) it still waits; at the bound it gives up with the error the web answers
    # 503 "shared load timeout" for. The holder is alive: its lock outlasts the bound.
    bound = config.Settings.model_fields["SINGLEFLIGHT_TIMEOUT_S"].default
    client = redis.Redis.from_url(redis_url)
    client.set(f"{KEY}:lock", "live-holder", px=600_000)
    clock = ManualClock()
    waiter = make_cache(redis_url, flight_timeout_s=bound, clock=clock)
    never = Loader()
    errors: list[Exception] = []

    def wait() -> None:
        try:
            waiter.get(KEY, never)
        except SingleFlightTimeout as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait)
    looked = pttl_calls(client)
    thread.start()
    wait_for(lambda: asleep_on_channel(client, KEY, looked), 20, "the waiter to sleep")
    clock.advance(bound + LOCK_MARGIN_S - TICK)
    looked = pttl_calls(client)
    client.publish(flight_done(KEY), STORED)  # stored, and evicted before it was read
    wait_for(lambda: pttl_calls(client) >= looked + 2, 20, "the waiter to look again")
    waiting_a_tick_before = thread.is_alive() and not errors
    clock.advance(TICK)
    thread.join(20)

    assert bound == 10
    assert waiting_a_tick_before
    assert [str(e) for e in errors] == ["no result within 10.0s"]
    assert never.calls == 0


def test_an_entry_is_fresh_for_the_ttl_then_stale_then_gone(redis_url):
    clock = ManualClock()
    # No background refresh: one would outlive the test and store the key again.
    cache = make_cache(redis_url, ttl_s=1, stale_s=1, clock=clock, max_refreshes=0)
    loader = Loader()
    fresh_until = clock.time() + 1
    stored = redis_commands(redis_url, lambda: cache.get(KEY, loader))

    clock.advance(1 - TICK)
    before_ttl = cache.get(KEY, loader).result
    clock.advance(TICK)  # exactly the 1 s TTL
    at_ttl = cache.get(KEY, loader).result

    assert (before_ttl, at_ttl, loader.calls) == ("hit", "stale", 1)
    # Redis drops the entry itself once the TTL and the stale window are over.
    entry = [c for c in stored if c[:2] == ["SET", KEY]]
    assert entry == [["SET", KEY, f"{fresh_until:.6f}\nbody", "PX", "2000"]]


def test_a_stale_window_of_0_is_off_even_before_redis_drops_the_entry(redis_url):
    # Redis drops the entry on its own clock (PX = the TTL); the cache's clock may pass the
    # TTL first (another host's clock, here a moved one): still a miss, never STALE.
    clock = ManualClock()
    cache = make_cache(redis_url, ttl_s=1, stale_s=0, clock=clock)
    cache.get(KEY, Loader(b"old"))
    clock.advance(1)

    lookup = cache.get(KEY, Loader(b"new"))

    assert (lookup.body, lookup.result) == (b"new", "miss")


def test_the_entry_stored_holds_its_freshness_and_the_body(redis_url):
    before = time.time()
    body = b'{"a":1}\n{"b":2}'  # a newline in the body must survive the header split
    cache = make_cache(redis_url, ttl_s=30, stale_s=10)
    cache.get(KEY, Loader(body))
    raw = redis.Redis.from_url(redis_url).get(KEY)

    head, _, stored = raw.partition(b"\n")
    assert stored == body
    assert make_cache(redis_url).get(KEY, Loader(b"other")).body == body
    assert before + 30 <= float(head) <= time.time() + 30
    assert 39_000 < redis.Redis.from_url(redis_url).pttl(KEY) <= 40_000


def test_a_stale_read_starts_one_background_refresh_and_answers_before_it_ends(redis_url):
    clock = ManualClock()
    cache = make_cache(redis_url, ttl_s=1, stale_s=30, clock=clock)
    cache.get(KEY, Loader(b"old"))
    clock.advance(1)  # the 1 s TTL
    gate = threading.Event()
    refresh = Loader(b"new", gate=gate)

    answers = [cache.get(KEY, refresh) for _ in range(5)]
    assert refresh.started.wait(5)

    assert {(a.body, a.result) for a in answers} == {(b"old", "stale")}
    assert refresh.calls == 1
    # The refresh holds the fleet lock like any load: its deadline is the lock's expiry
    # (flight_timeout_s 5) less the margin, on the cache's clock.
    assert refresh.deadlines == [clock.monotonic() + 5 - 0.25]
    gate.set()
    hit_again(cache, KEY, refresh)
    assert cache.get(KEY, refresh).body == b"new"
    assert refresh.calls == 1


@pytest.mark.parametrize(("flight_timeout_s", "margin_s"), [(4, 0.25), (1, 0.1)])
def test_the_holders_deadline_is_its_lock_expiry_less_a_tenth_up_to_a_quarter_second(
    redis_url, flight_timeout_s, margin_s
):
    clock = ManualClock()
    seen = []
    cache = make_cache(redis_url, flight_timeout_s=flight_timeout_s, clock=clock)

    cache.get(KEY, lambda deadline: seen.append(deadline) or b"x")

    assert seen == [pytest.approx(clock.monotonic() + flight_timeout_s - margin_s, abs=1e-9)]


def test_a_lock_lasts_its_ttl_and_at_least_a_millisecond(redis_url):
    client = redis.Redis.from_url(redis_url)
    clock = ManualClock()
    locks = []

    sent = redis_commands(
        redis_url,
        lambda: locks.extend(
            RedisLock.try_acquire(client, name, ttl_s, clock)
            for name, ttl_s in (("lock:ttl", 2), ("lock:tiny", 0.0001))
        ),
    )

    lock, tiny = locks
    assert sent == [
        ["SET", "lock:ttl", lock.token, "NX", "PX", "2000"],
        ["SET", "lock:tiny", tiny.token, "NX", "PX", "1"],
    ]
    assert len(lock.token) == 32 and lock.token != tiny.token
    assert lock.expires_at == clock.monotonic() + 2
    clock.advance(1)
    assert lock.renew(3) and lock.expires_at == clock.monotonic() + 3  # on the same clock


def test_a_local_copy_is_kept_only_while_fresh_and_only_up_to_its_size():
    local = LocalEntries(max_entries=1)
    now = time.time()
    local.put("a", b"A", now + 30)
    local.put("b", b"B", now + 30)

    assert (local.get("a"), local.get("b")) == (None, b"B")
    local.put("c", b"C", now)  # expires this instant
    assert local.get("c") is None


def test_a_read_local_copy_is_the_most_recently_used():
    local = LocalEntries(max_entries=2)
    now = time.time()
    local.put("a", b"A", now + 30)
    local.put("b", b"B", now + 30)
    assert local.get("a") == b"A"  # a is now newer than b
    local.put("c", b"C", now + 30)

    assert (local.get("a"), local.get("b"), local.get("c")) == (b"A", None, b"C")


def test_a_group_waiter_gives_up_after_its_bound_and_the_call_is_then_forgotten():
    group: Group[bytes] = Group(wait_timeout_s=0.2)
    gate, started = threading.Event(), threading.Event()

    def slow():
        started.set()
        gate.wait(5)
        return b"v"

    leader = threading.Thread(target=group.do, args=("k", slow))
    leader.start()
    assert started.wait(5)
    assert group.in_flight("k") and not group.in_flight("other")
    with pytest.raises(SingleFlightTimeout, match=r"^no result within 0.2s$"):
        group.do("k", lambda: b"never")
    gate.set()
    leader.join()

    assert not group.in_flight("k")


def test_threads_waiting_on_a_load_that_overruns_give_up_after_twice_the_timeout_and_1s(
    redis_url,
):
    # The load ignores its deadline (a hung query): the threads queued behind it in this
    # process are freed by the liveness bound, 2 x SINGLEFLIGHT_TIMEOUT_S + 1 s.
    cache = make_cache(redis_url, flight_timeout_s=0.2)
    hung = Loader(b"late", gate=threading.Event())
    with loading(cache, hung):
        started = time.monotonic()
        with pytest.raises(SingleFlightTimeout, match=r"^no result within 1\.4s$"):
            cache.get(KEY, Loader(b"never"))
        assert 1.4 <= time.monotonic() - started < 4
    assert hung.calls == 1


def _stale_keys(redis_url: str, names: str, clock: ManualClock) -> dict[str, str]:
    """Keys stored 1 s fresh, now stale: {name: key}."""
    writer = make_cache(redis_url, ttl_s=1, stale_s=60, clock=clock)
    keys = {name: f"{KEY}:{name}" for name in names}
    for key in keys.values():
        writer.get(key, Loader(b"old"))
    clock.advance(1)  # the 1 s TTL
    return keys


def _answer_within(cache: SharedCache, key: str, load: Loader, seconds: float):
    answers = []
    thread = threading.Thread(target=lambda: answers.append(cache.get(key, load)))
    thread.start()
    thread.join(seconds)
    assert answers, f"a stale request for {key} waited for a refresh slot"
    return answers[0]


def test_at_most_two_refreshes_run_at_once_one_per_key_and_a_finished_one_frees_its_slot(
    redis_url,
):
    # Each background refresh holds a database connection, and the capacity budget counts
    # two per web process (the default): a third stale key is served stale, unrefreshed.
    clock = ManualClock()
    keys = _stale_keys(redis_url, "abc", clock)
    cache = make_cache(redis_url, clock=clock)
    gates = {name: threading.Event() for name in keys}
    loads = {name: Loader(b"new " + name.encode(), gate=gates[name]) for name in keys}
    try:
        for _ in range(5):  # many requests for one stale key take one slot
            assert _answer_within(cache, keys["a"], loads["a"], 2).result == "stale"
        assert _answer_within(cache, keys["b"], loads["b"], 2).result == "stale"
        assert loads["a"].started.wait(5) and loads["b"].started.wait(5)

        c = _answer_within(cache, keys["c"], loads["c"], 2)
        assert (c.body, c.result) == (b"old", "stale")
        assert not loads["c"].started.wait(0.3), "a third refresh ran at once"
    finally:
        for gate in gates.values():
            gate.set()
    hit_again(cache, keys["a"], loads["a"])
    hit_again(cache, keys["b"], loads["b"])

    assert cache.get(keys["c"], loads["c"]).result == "stale"
    assert loads["c"].started.wait(5), "the slots of finished refreshes were not given back"
    assert (loads["a"].calls, loads["b"].calls) == (1, 1)


def test_a_fresh_entry_another_process_stored_is_then_served_from_memory_until_it_expires(
    redis_url,
):
    client = redis.Redis.from_url(redis_url)
    clock = ManualClock()
    make_cache(redis_url, ttl_s=1, clock=clock).get(KEY, Loader(b"stored elsewhere"))
    reader = make_cache(redis_url, ttl_s=1, local_entries=4, clock=clock)

    assert reader.get(KEY, Loader(b"x")).result == "hit"  # read from Redis
    client.delete(KEY)
    clock.advance(1 - TICK)
    again = reader.get(KEY, Loader(b"x"))
    clock.advance(TICK)  # the 1 s TTL
    gone = reader.get(KEY, Loader(b"loaded here"))

    assert (again.body, again.result) == (b"stored elsewhere", "hit")
    assert (gone.body, gone.result) == (b"loaded here", "miss")


def test_the_holders_margin_is_a_tenth_of_the_flight_timeout_between_its_edges(redis_url):
    clock = ManualClock()
    seen = []
    cache = make_cache(redis_url, flight_timeout_s=2.4, clock=clock)

    cache.get(KEY, lambda deadline: seen.append(deadline) or b"x")

    assert seen == [pytest.approx(clock.monotonic() + 2.4 - 0.24, abs=1e-9)]


def test_a_waiter_sleeps_on_the_channel_when_its_bound_is_under_a_second(redis_url):
    client = redis.Redis.from_url(redis_url)
    # The holder's lock outlasts the test; the waiter's 0.5 s bound (+ margin) is on a
    # clock that stands still, so neither can run out however slow the machine is.
    holder = make_cache(redis_url, flight_timeout_s=60)
    waiter = make_cache(redis_url, flight_timeout_s=0.5, clock=ManualClock())
    slow = Loader(b"body", gate=threading.Event())
    with loading(holder, slow):
        client.config_resetstat()

        def store_later() -> None:
            time.sleep(0.5)  # waits for time itself: a poller would look again meanwhile
            slow.gate.set()

        lookup = once_subscribed(
            client, KEY, lambda: waiter.get(KEY, Loader(b"never")), store_later
        )
        assert lookup.body == b"body"
    # One look at the lock, then asleep until the holder's message: not a polling loop
    # (a second look only if this machine stalled past the waiter's 0.75 s wait).
    assert client.info("commandstats")["cmdstat_pttl"]["calls"] <= 2
