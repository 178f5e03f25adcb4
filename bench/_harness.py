"""What the benchmarks share: throwaway PostgreSQL + Redis, a seeded database,
gunicorn servers and a concurrent HTTP client. Everything started is stopped."""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import migrations, seed_data
from app.web.query import QUERY_TAG
from tests.support.gunicorn import GunicornServer
from tests.support.servers import PostgresServer, RedisServer


@dataclass
class Stack:
    database_url: str
    redis_url: str
    pg: PostgresServer


@contextmanager
def stack(matches: int, predictions: int, max_connections: int = 200) -> Iterator[Stack]:
    with ExitStack() as stop:
        pg = PostgresServer(max_connections=max_connections).start()
        stop.callback(pg.stop)
        redis_server = RedisServer().start()
        stop.callback(redis_server.stop)
        url = pg.url()
        migrations.apply(url)
        now = dt.datetime(2026, 1, 24, 12, tzinfo=dt.UTC)
        seed_data.load(url, matches=matches, predictions=predictions, live=50, seed=1, now=now)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        yield Stack(url, redis_server.url, pg)


@contextmanager
def gunicorn(env: dict[str, str], app: str, workers: int, threads: int) -> Iterator[GunicornServer]:
    server = GunicornServer(env, workers=workers, threads=threads, app=app).start()
    try:
        yield server
    finally:
        server.stop()


def predictions_queries(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE %s",
            [f"%{QUERY_TAG}%"],
        ).fetchone()
    return int(row[0])


@dataclass
class Result:
    status: int
    seconds: float
    cache: str


def fire(port: int, path: str, n: int) -> list[Result]:
    """n requests released together, each on its own connection."""
    return fire_each(port, [path] * n)


def fire_each(port: int, paths: list[str]) -> list[Result]:
    """One request per path, released together, each on its own connection."""
    n = len(paths)
    barrier = threading.Barrier(n)
    results: list[Result | None] = [None] * n

    def one(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.connect()
        barrier.wait()
        started = time.perf_counter()
        conn.request("GET", paths[i])
        answer = conn.getresponse()
        answer.read()
        results[i] = Result(
            answer.status, time.perf_counter() - started, answer.getheader("X-Cache", "")
        )
        conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def alternating_options(parser: argparse.ArgumentParser, seconds: float) -> None:
    """The options of a benchmark that alternates two sides under keep-alive clients, each
    side on gunicorn with --workers and --threads."""
    parser.add_argument("--seconds", type=float, default=seconds, help="per throughput measurement")
    parser.add_argument("--rounds", type=int, default=4, help="alternations of the two")
    parser.add_argument("--clients", type=int, default=8, help="concurrent keep-alive clients")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)


def throughput(port: int, path: str, clients: int, seconds: float) -> float:
    """Requests per second from `clients` keep-alive connections during `seconds`."""
    done = [0] * clients
    stop_at = time.perf_counter() + seconds

    def loop(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < stop_at:
            conn.request("GET", path)
            answer = conn.getresponse()
            answer.read()
            if answer.status != 200:
                raise RuntimeError(f"{path} answered {answer.status}")
            done[i] += 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(values: list[float]) -> float:
    return statistics.median(values)
