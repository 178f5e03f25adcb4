"""Requests sent to the app from test threads while a test provokes something."""

from __future__ import annotations

import contextlib
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def concurrent_requests(base_url: str, clients: int) -> Iterator[None]:
    """`clients` threads each sending cache-missing requests (a new user_id each time)."""
    stop = threading.Event()

    def send(first: int) -> None:
        user_id = first
        while not stop.is_set():
            user_id += clients
            url = f"{base_url}/api/predictions/matched?user_id={user_id}"
            with contextlib.suppress(OSError):
                urllib.request.urlopen(url, timeout=30).read()

    threads = [
        threading.Thread(target=send, args=(n + 10_000,), daemon=True) for n in range(clients)
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=40)
