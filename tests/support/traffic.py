"""Requests sent to the app from test threads while a test provokes something."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def senders(
    send: Callable[[threading.Event, T], None], args: Sequence[T], join_s: float
) -> Iterator[None]:
    """A daemon thread per item of `args` running `send(stop, item)` until the block
    ends: then `stop` is set and each thread is given `join_s` seconds to finish."""
    stop = threading.Event()
    threads = [threading.Thread(target=send, args=(stop, arg), daemon=True) for arg in args]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=join_s)


@contextmanager
def concurrent_requests(
    base_url: str, clients: int, failures: list[str] | None = None
) -> Iterator[None]:
    """`clients` threads each sending cache-missing requests (a new user_id each time);
    each request that fails (any error, any status but 200) is added to `failures`."""

    def send(stop: threading.Event, first: int) -> None:
        user_id = first
        while not stop.is_set():
            user_id += clients
            url = f"{base_url}/api/predictions/matched?user_id={user_id}"
            try:
                urllib.request.urlopen(url, timeout=30).read()
            except OSError as exc:  # HTTPError too: it is an OSError
                if failures is not None:
                    failures.append(f"{url}: {exc}")

    with senders(send, [n + 10_000 for n in range(clients)], join_s=40):
        yield


@contextmanager
def cached_requests(base_url: str, clients: int, user_id: int = 1) -> Iterator[None]:
    """`clients` threads asking for one user_id again and again, each every 50 ms: cache
    hits, which keep the app's hit rate up while other traffic misses."""
    url = f"{base_url}/api/predictions/matched?user_id={user_id}"
    urllib.request.urlopen(url, timeout=30).read()  # stored before the hits begin

    def send(stop: threading.Event, _: None) -> None:
        while not stop.wait(0.05):
            with suppress(OSError):  # a lost hit only lowers the rate the test reads
                urllib.request.urlopen(url, timeout=30).read()

    with senders(send, [None] * clients, join_s=40):
        yield
