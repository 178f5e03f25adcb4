"""Cache misses with TLS to PostgreSQL and Redis against the same without, side by side.

    .venv/bin/python bench/cache_miss_tls.py [--requests 200] [--seconds 4] [--rounds 4]

One PostgreSQL and one Redis serve both ways at once (Redis on a plain and a TLS port,
PostgreSQL per connection); two gunicorn apps differ only in their URLs: plain text
(sslmode=disable, redis://) or verified TLS as deployed (sslmode=verify-full,
rediss:// with the CA). Every request asks for a user nobody asked for, so each one
misses the cache: a Redis lock, a query on a pooled connection, a Redis write. Both
are measured at the same time so machine noise hits them alike: latency one request
at a time, alternating between the two request by request (median, p95); throughput
with the same number of clients on each, in the same window. Prints each with the
ratio TLS / plain.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import itertools
import threading
import time

import _harness as h

from app import migrations, seed_data
from tests.support.servers import PostgresServer, RedisServer

PATH = "/api/predictions/matched?limit=50&user_id={}"
USERS = itertools.count(1_000_000)
USERS_LOCK = threading.Lock()


def next_user() -> int:
    with USERS_LOCK:
        return next(USERS)


def one_miss(conn: http.client.HTTPConnection) -> float:
    """Seconds for one request that misses the cache."""
    started = time.perf_counter()
    conn.request("GET", PATH.format(next_user()))
    answer = conn.getresponse()
    answer.read()
    if answer.status != 200 or answer.getheader("X-Cache") != "MISS":
        raise RuntimeError(
            f"expected a 200 miss, got {answer.status} {answer.getheader('X-Cache')}"
        )
    return time.perf_counter() - started


def latencies(ports: dict[str, int], requests: int) -> dict[str, list[float]]:
    """One miss at a time, alternating between the apps request by request."""
    conns = {
        name: http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for name, port in ports.items()
    }
    taken: dict[str, list[float]] = {name: [] for name in ports}
    for _ in range(requests):
        for name, conn in conns.items():
            taken[name].append(one_miss(conn))
    for conn in conns.values():
        conn.close()
    return taken


def misses_per_second(ports: dict[str, int], clients: int, seconds: float) -> dict[str, float]:
    """`clients` keep-alive clients on each app, all in the same window."""
    done = {name: [0] * clients for name in ports}
    stop_at = time.perf_counter() + seconds

    def loop(name: str, i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", ports[name], timeout=60)
        while time.perf_counter() < stop_at:
            one_miss(conn)
            done[name][i] += 1
        conn.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(n, i)) for n in ports for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {name: sum(counts) / elapsed for name, counts in done.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="sequential misses per round")
    h.alternating_options(parser, seconds=4.0)
    args = parser.parse_args()

    pg = PostgresServer(max_connections=200, tls=True).start()
    redis = RedisServer(tls=True).start()
    try:
        migrations.apply(pg.url())
        now = dt.datetime(2026, 1, 24, 12, tzinfo=dt.UTC)
        seed_data.load(pg.url(), matches=2_000, predictions=20_000, live=50, seed=1, now=now)
        plain = {"DATABASE_URL": f"{pg.url()}?sslmode=disable", "REDIS_URL": redis.url}
        tls = {"DATABASE_URL": pg.tls_url(), "REDIS_URL": redis.tls_url}
        common = {"PREDICTIONS_LOCAL_CACHE_ENTRIES": "0"}
        results: dict[str, dict[str, list[float]]] = {
            "plain": {"latency": [], "throughput": []},
            "tls": {"latency": [], "throughput": []},
        }
        envs = {
            name: {**common, **urls, "RQ_REDIS_URL": urls["REDIS_URL"]}
            for name, urls in (("plain", plain), ("tls", tls))
        }
        with (
            h.gunicorn(envs["plain"], "app.wsgi:app", args.workers, args.threads) as plain_app,
            h.gunicorn(envs["tls"], "app.wsgi:app", args.workers, args.threads) as tls_app,
        ):
            ports = {"plain": plain_app.port, "tls": tls_app.port}
            latencies(ports, 20)  # warm: pools open, workers imported
            for _ in range(args.rounds):
                for name, taken in latencies(ports, args.requests).items():
                    results[name]["latency"] += taken
                for name, rate in misses_per_second(ports, args.clients, args.seconds).items():
                    results[name]["throughput"].append(rate)
    finally:
        pg.stop()
        redis.stop()

    report(args, results)


def report(args: argparse.Namespace, results: dict[str, dict[str, list[float]]]) -> None:
    print(
        f"gunicorn {args.workers} workers x {args.threads} threads; {args.rounds} rounds of "
        f"{args.requests} sequential misses and {args.seconds:g}s of {args.clients} clients"
    )
    summary = {}
    for name in ("plain", "tls"):
        lat, thr = results[name]["latency"], results[name]["throughput"]
        summary[name] = (h.median(lat), h.percentile(lat, 0.95), h.median(thr))
        print(
            f"{name:5}  latency median {summary[name][0] * 1000:6.2f} ms"
            f"  p95 {summary[name][1] * 1000:6.2f} ms"
            f"  throughput median {summary[name][2]:7.0f} misses/s"
        )
    (p_med, p_95, p_thr), (t_med, t_95, t_thr) = summary["plain"], summary["tls"]
    print(
        f"ratio tls/plain: latency median {t_med / p_med:.2f}x, p95 {t_95 / p_95:.2f}x, "
        f"throughput {t_thr / p_thr:.2f}x"
    )


if __name__ == "__main__":
    main()
