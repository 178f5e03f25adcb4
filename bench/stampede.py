"""Cache stampede: N concurrent requests for one cold key, single-flight on vs off.

    .venv/bin/python bench/stampede.py [--sizes 20 100 500] [--repeats 3]

Two gunicorn servers (4 workers each) run side by side on one PostgreSQL and
one Redis: `app.wsgi:app` and `app.web:create_app(singleflight=False)`. Each
round releases N requests at once for a key never asked before (limit 200,
199, ...: workers keep fresh entries in memory, so emptying Redis is not
enough) against one of them; rounds alternate between the two. Prints, per N,
database queries (counted by pg_stat_statements), p50/p99 latency and non-200
answers, medians over the repeats, and the off/on ratios.
"""

from __future__ import annotations

import argparse

import _harness as h

PATH = "/api/predictions/matched?limit={limit}"
MODES = {"on": "app.wsgi:app", "off": "app.web:create_app(singleflight=False)"}


def one_round(server, stack, n: int, limit: int) -> dict[str, float]:
    before = h.predictions_queries(stack.database_url)
    results = h.fire(server.port, PATH.format(limit=limit), n)
    latencies = [r.seconds for r in results]
    return {
        "queries": h.predictions_queries(stack.database_url) - before,
        "p50": h.percentile(latencies, 0.50),
        "p99": h.percentile(latencies, 0.99),
        "errors": sum(r.status != 200 for r in results),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 100, 500])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    threads = max(8, -(-max(args.sizes) // args.workers) + 4)

    with h.stack(matches=10_000, predictions=100_000, max_connections=200) as stack:
        env = {
            "DATABASE_URL": stack.database_url,
            "REDIS_URL": stack.redis_url,
            "RQ_REDIS_URL": stack.redis_url,
            "DB_MAX_CONNECTIONS": "20",
        }
        with (
            h.gunicorn(env, MODES["on"], args.workers, threads) as on,
            h.gunicorn(env, MODES["off"], args.workers, threads) as off,
        ):
            servers = {"on": on, "off": off}
            for server in servers.values():  # warm PostgreSQL's buffers and the pools
                h.fire(server.port, PATH.format(limit=1), 8)
            limits = iter(range(200, 0, -1))
            print(
                f"{args.workers} workers x {threads} threads per server, pool max 20 per "
                f"worker, {args.repeats} repeats, medians; GET {PATH.format(limit='200..')}"
            )
            print(
                f"{'N':>5} {'single-flight':>13} {'queries':>8} {'p50 ms':>8} "
                f"{'p99 ms':>8} {'non-200':>8}"
            )
            for n in args.sizes:
                rounds = {"on": [], "off": []}
                for repeat in range(args.repeats):
                    order = ("on", "off") if repeat % 2 == 0 else ("off", "on")
                    for mode in order:
                        rounds[mode].append(one_round(servers[mode], stack, n, next(limits)))
                summary = {mode: _medians(rs) for mode, rs in rounds.items()}
                for mode in ("on", "off"):
                    s = summary[mode]
                    print(
                        f"{n:>5} {mode:>13} {s['queries']:>8.0f} {s['p50'] * 1000:>8.1f} "
                        f"{s['p99'] * 1000:>8.1f} {s['errors']:>8.0f}"
                    )
                on_s, off_s = summary["on"], summary["off"]
                queries = off_s["queries"] / max(on_s["queries"], 1)
                print(
                    f"{n:>5} {'off/on ratio':>13} {queries:>7.0f}x"
                    f" {off_s['p50'] / on_s['p50']:>7.2f}x {off_s['p99'] / on_s['p99']:>7.2f}x"
                )


def _medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: h.median([r[key] for r in rounds]) for key in rounds[0]}


if __name__ == "__main__":
    main()
