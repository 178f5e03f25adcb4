"""How long do a backup and a restore of the database take with PREDICTIONS predictions (RTO)?

Side by side on one throwaway PostgreSQL seeded like production (app.seed_data), its WAL
archived into a local pgBackRest repository as the deploy sets it up (encrypted, lz4,
process-max 2):
  pgbackrest   a full backup; then the data directory removed and `pgbackrest restore`
               until the cluster accepts connections again, recovered and promoted
  pg_dump      the classic alternative: `pg_dump -Fc` of the same database, and
               `pg_restore` of it into an empty database (indexes rebuilt)
Prints each time and the ratios. The restore time is the core of the RTO; restore.yml
adds its plays around it (stop and start the jobs, restart the web, migrations
verified, smoke gate), measured on the lab by tests/fleet/test_restore_lab.py.

    .venv/bin/python bench/restore_rto.py [--predictions 1000000] [--matches 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import migrations, seed_data
from tests.support.leftovers import scratch_dir
from tests.support.pgbackrest import Repository
from tests.support.servers import PostgresServer, postgres_bindir
from tests.support.waiting import wait_for


def timed(action) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def as_postgres(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True)


def promoted(url: str) -> bool:
    """Recovery ended: the cluster accepts writes."""
    with psycopg.connect(url) as conn:
        return not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM predictions").fetchone()[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--matches", type=int, default=20_000)
    args = parser.parse_args()
    if shutil.which("pgbackrest") is None:
        parser.error("pgbackrest missing: run `make servers`")
    repo = Repository(scratch_dir("pgbackrest-bench"))
    repo.root.chmod(0o755)
    server = PostgresServer(settings={"archive_mode": "on", "archive_timeout": "60"})
    server.settings["archive_command"] = repo.archive_command()
    dump = repo.root / "goalgpt.dump"
    try:
        server.start()
        repo.write_config(server)
        repo.run("stanza-create")
        url = server.url()
        migrations.apply(url)
        print(f"seeding {args.predictions} predictions ...", flush=True)
        now = dt.datetime(2026, 1, 24, 12, tzinfo=dt.UTC)
        seed_data.load(
            url, matches=args.matches, predictions=args.predictions, live=50, seed=1, now=now
        )
        with psycopg.connect(url) as conn:
            size = conn.execute("SELECT pg_size_pretty(pg_database_size('postgres'))").fetchone()[0]

        backup_s = timed(lambda: repo.run("--type=full", "backup", timeout=3600))
        dump_s = timed(lambda: as_postgres(
            str(postgres_bindir() / "pg_dump"), "-Fc", "-Z1", "-h", str(server.datadir),
            "-p", str(server.port), "-d", "postgres", "-f", str(dump),
        ))  # fmt: skip

        server.halt()
        shutil.rmtree(server.datadir / "data")
        (server.datadir / "data").mkdir(mode=0o700)
        shutil.chown(server.datadir / "data", "postgres", "postgres")

        def restore() -> None:
            repo.run("--type=default", "restore", timeout=3600)
            server.run(timeout=3600)
            wait_for(lambda: promoted(url), 3600, "the end of recovery", 0.2)

        restore_s = timed(restore)
        restored = count(url)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE from_dump")
        pg_restore_s = timed(lambda: as_postgres(
            str(postgres_bindir() / "pg_restore"), "-j", "2", "-h", str(server.datadir),
            "-p", str(server.port), "-d", "from_dump", str(dump),
        ))  # fmt: skip
        from_dump = count(server.url("from_dump"))
    finally:
        server.stop()
        shutil.rmtree(repo.root, ignore_errors=True)

    print(f"database: {size}, predictions restored: {restored} (pg_restore: {from_dump})")
    rows = (
        ("full backup (pgbackrest)", backup_s, ""),
        ("pg_dump -Fc", dump_s, f"backup / pg_dump       {backup_s / dump_s:.2f}"),
        ("restore until it serves", restore_s, ""),
        ("pg_restore -j 2", pg_restore_s, f"restore / pg_restore   {restore_s / pg_restore_s:.2f}"),
    )
    for what, seconds, ratio in rows:
        print(f"{what:<28} {seconds:7.1f} s   {ratio}")
    return 0 if restored == args.predictions == from_dump else 1


if __name__ == "__main__":
    sys.exit(main())
