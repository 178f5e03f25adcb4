"""Half-stats, step 2 of 2: the GIN index on data_completeness, built CONCURRENTLY.

Runs outside a transaction (CREATE INDEX CONCURRENTLY refuses to run inside one),
so reads and writes on ts_matches carry on while it builds. An interrupted build
(killed runner, terminated backend) leaves an INVALID index that `IF NOT EXISTS`
would keep forever: it is detected here, dropped and built again.
"""

import logging

from yoyo import step

from app.migrations import half_stats

__depends__ = {"0002_half_stats_columns"}
__transactional__ = False

log = logging.getLogger("app.migrations")
INDEX = half_stats.INDEX


def build_index(conn):
    # Waiting here holds SHARE UPDATE EXCLUSIVE, which blocks no reader or writer:
    # wait for old transactions rather than time out and leave an invalid index.
    conn.execute("SET lock_timeout = 0")
    if half_stats.index_state(conn) == "invalid":
        log.warning("index %s is INVALID (an interrupted build): dropping and rebuilding it", INDEX)
        conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    conn.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} "
        f"ON {half_stats.TABLE} USING {half_stats.INDEX_METHOD} ({half_stats.INDEX_COLUMN})"
    )


def drop_index(conn):
    conn.execute("SET lock_timeout = 0")
    conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


steps = [step(build_index, drop_index)]
