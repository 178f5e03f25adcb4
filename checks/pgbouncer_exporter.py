"""`python -m checks.pgbouncer_exporter`: PgBouncer's own view, as Prometheus metrics.

Each scrape of /metrics asks PgBouncer's console (database `pgbouncer`, as a
`stats_users` member) SHOW POOLS, SHOW DATABASES, SHOW LISTS, SHOW STATS and
SHOW CONFIG, and answers with both layers of the connection budget: per pool the
clients active and waiting, the longest wait, the server connections active, idle,
used, tested and logging in; per database its pool size, reserve and cap; the client
connections in use against max_client_conn. Names follow prometheus-community's
pgbouncer_exporter where it has one. Debian's prometheus-pgbouncer-exporter (1.7)
exports only active and waiting clients, not what the rules and the probe compare.

Needs only the standard library and psycopg 3 (Debian's python3-psycopg on the
bouncer host). The password is read from --password-file, never the command line;
the console is reached over TLS verified against --ca-file (sslmode=verify-full), as
every client of the fleet's PgBouncer.
`pgbouncer_up` is 0 when PgBouncer does not answer (the scrape still succeeds).
Exit 0 when stopped by SIGTERM or Ctrl-C, 2 when it cannot start.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterable
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg

ADMIN_DATABASE = "pgbouncer"
CONNECT_TIMEOUT_S = 3
# SHOW POOLS column -> (metric, help). maxwait is split in whole seconds and microseconds.
POOL_GAUGES = {
    "cl_active": ("pgbouncer_pools_client_active_connections", "clients linked to a server"),
    "cl_waiting": ("pgbouncer_pools_client_waiting_connections", "clients waiting for a server"),
    "sv_active": ("pgbouncer_pools_server_active_connections", "servers linked to a client"),
    "sv_idle": ("pgbouncer_pools_server_idle_connections", "servers idle and ready"),
    "sv_used": ("pgbouncer_pools_server_used_connections", "servers idle past server_check_delay"),
    "sv_tested": ("pgbouncer_pools_server_testing_connections", "servers being tested"),
    "sv_login": ("pgbouncer_pools_server_login_connections", "servers logging in"),
}
MAXWAIT = ("pgbouncer_pools_client_maxwait_seconds", "age of the oldest waiting client")
DATABASE_GAUGES = {
    "pool_size": ("pgbouncer_databases_pool_size", "server connections per user pool"),
    "reserve_pool": ("pgbouncer_databases_reserve_pool", "extra connections when clients wait"),
    "max_connections": ("pgbouncer_databases_max_connections", "cap on the database (0: none)"),
    "current_connections": ("pgbouncer_databases_current_connections", "server connections now"),
}
STATS_COUNTERS = {
    "total_xact_count": ("pgbouncer_stats_sql_transactions_pooled_total", "transactions", 1),
    "total_query_count": ("pgbouncer_stats_queries_pooled_total", "queries", 1),
    "total_wait_time": ("pgbouncer_stats_client_wait_seconds_total", "seconds clients waited", 1e6),
}
USED_CLIENTS = ("pgbouncer_lists_used_clients", "client connections in use")
MAX_CLIENT_CONN = ("pgbouncer_config_max_client_connections", "max_client_conn")
UP = ("pgbouncer_up", "1 when PgBouncer answered this scrape")


class Metrics:
    """Prometheus text, one family at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, help_text: str, kind: str, samples: Iterable) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        for labels, value in samples:
            pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
            sample = f"{name}{{{pairs}}}" if pairs else name
            self.lines.append(f"{sample} {float(value)!r}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _rows(conn: psycopg.Connection, command: str) -> list[dict[str, Any]]:
    cur = conn.execute(command)
    names = [column.name for column in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float | Decimal) else float(value or 0)


def _pool(row: dict[str, Any]) -> dict[str, str]:
    return {"database": row["database"], "user": row["user"]}


def read(conn: psycopg.Connection) -> Metrics:
    """Every family from one console connection (the console's own pool left out)."""
    pools = [r for r in _rows(conn, "SHOW POOLS") if r["database"] != ADMIN_DATABASE]
    databases = [r for r in _rows(conn, "SHOW DATABASES") if r["name"] != ADMIN_DATABASE]
    stats = [r for r in _rows(conn, "SHOW STATS") if r["database"] != ADMIN_DATABASE]
    lists = {r["list"]: r["items"] for r in _rows(conn, "SHOW LISTS")}
    config = {r["key"]: r["value"] for r in _rows(conn, "SHOW CONFIG")}
    out = Metrics()
    out.family(*UP, "gauge", [({}, 1)])
    for column, (name, help_text) in POOL_GAUGES.items():
        out.family(name, help_text, "gauge", ((_pool(r), r[column]) for r in pools))
    waited = ((_pool(r), r["maxwait"] + r["maxwait_us"] / 1e6) for r in pools)
    out.family(*MAXWAIT, "gauge", waited)
    for column, (name, help_text) in DATABASE_GAUGES.items():
        per_database = (({"database": r["name"]}, r[column]) for r in databases)
        out.family(name, help_text, "gauge", per_database)
    for column, (name, help_text, per_unit) in STATS_COUNTERS.items():
        totals = (({"database": r["database"]}, _number(r[column]) / per_unit) for r in stats)
        out.family(name, help_text, "counter", totals)
    out.family(*USED_CLIENTS, "gauge", [({}, lists.get("used_clients", 0))])
    out.family(*MAX_CLIENT_CONN, "gauge", [({}, int(config.get("max_client_conn", 0)))])
    return out


class Exporter:
    """Answers each scrape from a fresh console connection: nothing held between scrapes."""

    def __init__(self, host: str, port: int, user: str, password_file: Path, ca_file: Path) -> None:
        self.conninfo = {
            "host": host,
            "port": port,
            "user": user,
            "dbname": ADMIN_DATABASE,
            "sslmode": "verify-full",
            "sslrootcert": str(ca_file),
        }
        self.password_file = password_file

    def scrape(self) -> str:
        try:
            password = self.password_file.read_text().strip()
            with psycopg.connect(
                **self.conninfo,
                password=password,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
            ) as conn:
                return read(conn).text()
        except (psycopg.Error, OSError) as exc:
            down = Metrics()
            down.family(*UP, "gauge", [({}, 0)])
            print(f"pgbouncer did not answer: {str(exc).strip().splitlines()[-1:]}", flush=True)
            return down.text()


def _handler(exporter: Exporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = exporter.scrape().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # a scrape every few seconds is not news

    return Handler


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m checks.pgbouncer_exporter",
        description="Serve PgBouncer's SHOW POOLS/DATABASES/LISTS/STATS/CONFIG as Prometheus "
        "metrics on /metrics. Exit 0 stopped, 2 cannot start.",
    )
    parser.add_argument("--listen", required=True, metavar="ADDRESS:PORT", help="where to serve")
    parser.add_argument("--pgbouncer", required=True, metavar="HOST:PORT", help="PgBouncer")
    parser.add_argument("--user", required=True, help="a stats_users member")
    parser.add_argument("--password-file", required=True, type=Path, metavar="FILE")
    parser.add_argument(
        "--ca-file", required=True, type=Path, metavar="FILE", help="the CA of PgBouncer's cert"
    )
    return parser


def _address(text: str, parser: argparse.ArgumentParser, what: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"{what} must be ADDRESS:PORT, got {text!r}")
    return host, int(port)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    listen = _address(args.listen, parser, "--listen")
    bouncer = _address(args.pgbouncer, parser, "--pgbouncer")
    exporter = Exporter(*bouncer, args.user, args.password_file, args.ca_file)
    try:
        server = ThreadingHTTPServer(listen, _handler(exporter))
    except OSError as exc:
        print(f"pgbouncer exporter not started: {args.listen}: {exc.strerror}", file=sys.stderr)
        return 2

    def stop(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"serving {args.pgbouncer}'s metrics on http://{args.listen}/metrics", flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
