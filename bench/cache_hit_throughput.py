"""Cache-hit throughput of /api/predictions/matched against /healthz on the same gunicorn.

    .venv/bin/python bench/cache_hit_throughput.py [--seconds 3] [--rounds 4] [--clients 8]

Both endpoints run through the same workers, client and metrics; rounds
alternate between them so machine noise hits both alike. Prints requests per
second for each and the ratio (goal: a cache hit at >= 0.8x the trivial endpoint).
"""

from __future__ import annotations

import argparse

import _harness as h

HIT_PATH = "/api/predictions/matched?limit=50"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    h.alternating_options(parser, seconds=3.0)
    args = parser.parse_args()

    with h.stack(matches=2_000, predictions=20_000) as stack:
        env = {
            "DATABASE_URL": stack.database_url,
            "REDIS_URL": stack.redis_url,
            "RQ_REDIS_URL": stack.redis_url,
            "PREDICTIONS_CACHE_TTL_S": "3600",
        }
        with h.gunicorn(env, "app.wsgi:app", args.workers, args.threads) as server:
            first = server.get(HIT_PATH)
            assert first.status == 200, first.body[:200]
            assert server.get(HIT_PATH).headers["x-cache"] == "HIT"
            queries_before = h.predictions_queries(stack.database_url)
            hit, trivial = [], []
            for _ in range(args.rounds):
                trivial.append(h.throughput(server.port, "/healthz", args.clients, args.seconds))
                hit.append(h.throughput(server.port, HIT_PATH, args.clients, args.seconds))
            queries = h.predictions_queries(stack.database_url) - queries_before

    print(
        f"gunicorn {args.workers} workers x {args.threads} threads, {args.clients} clients, "
        f"{args.rounds} rounds of {args.seconds:g}s each, body {len(first.body)} bytes"
    )
    print(f"/healthz          median {h.median(trivial):8.0f} req/s  rounds {_fmt(trivial)}")
    print(f"cache hit         median {h.median(hit):8.0f} req/s  rounds {_fmt(hit)}")
    print(f"ratio hit/trivial {h.median(hit) / h.median(trivial):.2f}x (goal >= 0.8x)")
    print(f"database queries during the hit rounds: {queries}")


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.0f}" for v in values)


if __name__ == "__main__":
    main()
