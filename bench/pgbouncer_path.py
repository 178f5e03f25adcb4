"""Through PgBouncer vs direct: cache-miss latency, burst throughput, the largest fleet.

    .venv/bin/python bench/pgbouncer_path.py [--misses 200] [--burst 200] [--repeats 3]

One PostgreSQL (max_connections 100), one Redis, and two gunicorn servers side by
side (same workers, threads and pool): one connects to PostgreSQL directly, the
other through a PgBouncer configured as roles/pgbouncer does (transaction mode,
SCRAM, pool 20 + reserve 5). Every request asks a key never asked before, so each
is a cache miss that runs the predictions query.

- latency: --misses single requests, one at a time, alternating between the two
  servers; p50 and p99 of each, and the ratio bouncer / direct;
- burst: --burst distinct misses released together, rounds alternating; requests
  per second (median over --repeats) and the ratio;
- fleet: the largest number of web processes (the lab's default: 4 threads + 2
  refreshes, pool 50, plus its 4 rq workers) each mode admits on max_connections
  100, by the deploy's own gate (checks/capacity/budget.py).
"""

from __future__ import annotations

import argparse
import time
import uuid

import _harness as h
import psycopg

from tests.support.pgbouncer import PgBouncerServer, create_role

ROLE = "bench_app"
PASSWORD = uuid.uuid4().hex
PATH = "/api/predictions/matched?user_id={user}&limit=20"
MAX_CONNECTIONS = 100


def one_miss(port: int, user: int) -> float:
    (result,) = h.fire(port, PATH.format(user=user), 1)
    if result.status != 200 or result.cache != "MISS":
        raise RuntimeError(f"user {user}: {result.status} {result.cache}")
    return result.seconds


def burst(port: int, first_user: int, n: int) -> float:
    """Requests per second of `n` distinct misses released together."""
    started = time.perf_counter()
    results = h.fire_each(port, [PATH.format(user=first_user + i) for i in range(n)])
    took = time.perf_counter() - started
    failed = [r.status for r in results if r.status != 200]
    if failed:
        raise RuntimeError(f"{len(failed)} of {n} failed: {sorted(set(failed))}")
    return n / took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", type=int, default=200)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    with h.stack(matches=10_000, predictions=100_000, max_connections=MAX_CONNECTIONS) as stack:
        create_role(stack.pg, ROLE, PASSWORD)
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(f"GRANT SELECT, UPDATE ON ALL TABLES IN SCHEMA public TO {ROLE}")
        pool = {"default_pool_size": "20", "reserve_pool_size": "5", "max_db_connections": "25"}
        bouncer = PgBouncerServer(stack.pg, "postgres", [ROLE], settings=pool).start()
        try:
            urls = {
                "direct": stack.pg.url(user=ROLE, password=PASSWORD),
                "bouncer": bouncer.url(ROLE, PASSWORD),
            }
            run(stack, urls, args)
        finally:
            bouncer.stop()
    print_fleet()


def run(stack: h.Stack, urls: dict[str, str], args: argparse.Namespace) -> None:
    def env(url: str) -> dict[str, str]:
        return {
            "DATABASE_URL": url,
            "REDIS_URL": stack.redis_url,
            "RQ_REDIS_URL": stack.redis_url,
            "DB_MAX_CONNECTIONS": "10",
        }

    with (
        h.gunicorn(env(urls["direct"]), "app.wsgi:app", args.workers, args.threads) as direct,
        h.gunicorn(env(urls["bouncer"]), "app.wsgi:app", args.workers, args.threads) as bounced,
    ):
        servers = {"direct": direct, "bouncer": bounced}
        users = iter(range(1, 10**9))
        for server in servers.values():  # warm the pools and PostgreSQL's buffers
            h.fire_each(server.port, [PATH.format(user=next(users)) for _ in range(40)])
        latency: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(args.misses):
            for name, server in servers.items():
                latency[name].append(one_miss(server.port, next(users)))
        rates: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(args.repeats):
            for name, server in servers.items():
                first = next(users)
                for _ in range(args.burst):
                    next(users)
                rates[name].append(burst(server.port, first, args.burst))

    print(f"{args.workers} workers x {args.threads} threads per server, pool 10 per process;")
    print("PgBouncer: transaction mode, pool 20 + reserve 5; PostgreSQL max_connections 100\n")
    print(f"cache-miss latency, {args.misses} one at a time:")
    for name, values in latency.items():
        p50, p99 = h.percentile(values, 0.5), h.percentile(values, 0.99)
        print(f"  {name:8} p50 {p50 * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms")
    ratio = h.percentile(latency["bouncer"], 0.5) / h.percentile(latency["direct"], 0.5)
    print(f"  bouncer / direct p50: {ratio:.2f}\n")
    print(f"burst of {args.burst} distinct misses, median of {args.repeats}:")
    for name, values in rates.items():
        print(f"  {name:8} {h.median(values):8.0f} requests/s")
    print(f"  bouncer / direct: {h.median(rates['bouncer']) / h.median(rates['direct']):.2f}\n")


def print_fleet() -> None:
    """The deploy's own gate (checks/capacity/budget.py) on the lab's fleet shape."""
    from checks import thresholds
    from checks.capacity import budget, demand

    lab = demand.from_dict(
        {
            "web": [{"host": "app", "processes": 1, "threads": 4, "refreshes": 2, "pool_max": 50}],
            "workers": [{"host": "workers", "processes": 4, "pool_max": 2}],
        }
    )
    bouncer = budget.Bouncer("pgbouncer", pool_size=20, reserve=5, max_client_conn=1000)
    headroom = thresholds.load().capacity.headroom_connections
    largest = budget.largest_fleets(lab, MAX_CONNECTIONS, 3, headroom, bouncer)
    print(
        f"largest fleet on max_connections {MAX_CONNECTIONS} (web processes of 4 threads + "
        "2 refreshes, plus 4 rq workers; the deploy's gate):"
    )
    for mode, processes in largest.items():
        print(f"  {mode:18} {processes:4d} web processes")
    print(f"  through PgBouncer / direct: {largest['through PgBouncer'] / largest['direct']:.1f}")


if __name__ == "__main__":
    main()
