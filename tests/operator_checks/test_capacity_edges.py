"""The capacity probe on both sides of each seed number, with real sessions in PostgreSQL.

Each test puts the server exactly at a limit (5 slow queries, 10 lock waits,
70 % of the usable slots), runs `python -m checks.capacity --json` as an
operator would (exit 0 safe), then adds one session and runs it again (exit 1).
"""

from __future__ import annotations

import pytest

from tests.operator_checks.pgsessions import with_monitor_role

pytestmark = pytest.mark.slow

SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
    "AND state = 'active' AND query LIKE '%pg_sleep%'"
)
SLOW_OLDER_THAN = SLEEPING + " AND clock_timestamp() - query_start > interval '{} seconds'"
UNGRANTED = "SELECT count(*) FROM pg_locks WHERE NOT granted"


def probe(run_check, dsn: str, *args: str, pool_max: int = 50):
    result = run_check(
        "checks.capacity", "--dsn", dsn, "--json", *args, DB_MAX_CONNECTIONS=str(pool_max)
    )
    assert result.returncode in (0, 1), result.stderr
    return result


def test_five_slow_queries_are_safe_and_the_sixth_is_not(sessions, monitor_url, run_check):
    watcher = sessions.open(1)[0]
    sessions.running(5)
    sessions.wait_for(watcher, SLOW_OLDER_THAN.format(1.2), 5)

    at_limit = probe(run_check, monitor_url)
    sessions.running(1)
    sessions.wait_for(watcher, SLOW_OLDER_THAN.format(1.2), 6)
    past_it = probe(run_check, monitor_url)

    assert (at_limit.returncode, at_limit.data["slow_queries"]) == (0, 5)
    assert at_limit.data["safe"] is True
    assert (past_it.returncode, past_it.data["slow_queries"]) == (1, 6)
    assert (
        "6 slow queries detected (>1s) - Optimize queries before increasing pool"
        in (past_it.data["warnings"])
    )


def test_ten_lock_waits_are_safe_and_the_eleventh_is_not(
    sessions, monitor_url, run_check, thresholds_file
):
    # Waiting for a lock is also a slow query; a long "slow" isolates the lock rule.
    limits = thresholds_file(capacity={"slow_query_s": 3600})
    holder = sessions.open(1)[0]
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE contended IN ACCESS EXCLUSIVE MODE")
    watcher = sessions.open(1)[0]
    sessions.running(10, "SELECT count(*) FROM contended")
    sessions.wait_for(watcher, UNGRANTED, 10)

    at_limit = probe(run_check, monitor_url, "--thresholds", limits)
    sessions.running(1, "SELECT count(*) FROM contended")
    sessions.wait_for(watcher, UNGRANTED, 11)
    past_it = probe(run_check, monitor_url, "--thresholds", limits)

    assert (at_limit.returncode, at_limit.data["lock_waits"]) == (0, 10)
    assert (past_it.returncode, past_it.data["lock_waits"]) == (1, 11)
    assert (
        "11 lock waits detected - Investigate lock contention first" in (past_it.data["warnings"])
    )


@pytest.fixture(scope="module")
def thirty_slot_pg(start_postgres):
    """30 usable slots (33 minus 3 reserved): 21 sessions are 70.0 %, 22 are 73.3 %."""
    return with_monitor_role(start_postgres(max_connections=33))


def test_exactly_70_percent_of_the_usable_slots_is_safe_and_one_more_session_is_not(
    thirty_slot_pg, sessions_on, run_check
):
    dsn = thirty_slot_pg.url(user="monitor")
    sessions = sessions_on(thirty_slot_pg)
    sessions.open(21)

    # A pool of 5 fits this server's budget of 10 (33 - 23 headroom): only utilisation counts.
    at_limit = probe(run_check, dsn, pool_max=5)
    sessions.open(1)
    past_it = probe(run_check, dsn, pool_max=5)

    assert at_limit.data["usable_connections"] == 30
    assert (at_limit.returncode, at_limit.data["utilization_pct"]) == (0, 70.0)
    assert (past_it.returncode, past_it.data["utilization_pct"]) == (1, 100 * 22 / 30)
    assert past_it.data["utilization_shown"] == "73.3"
    assert (
        "Connection utilization high: 73.3% - Consider query optimization first"
        in (past_it.data["warnings"])
    )


# -- the recommendation at the seed's edges: min(max_connections - 23, 80) -----------------


@pytest.fixture(scope="module")
def server_of(start_postgres):
    """A PostgreSQL with a pg_monitor role per (max_connections, reserved slots), started once."""
    started = {}

    def of(max_connections: int, reserved: int = 3):
        key = (max_connections, reserved)
        if key not in started:
            settings = {"superuser_reserved_connections": str(reserved)}
            started[key] = with_monitor_role(start_postgres(max_connections, **settings))
        return started[key]

    return of


@pytest.mark.parametrize(
    ("max_connections", "reserved", "others", "recommended"),
    [
        (100, 3, 0, 77),  # the seed's server: 100 - 23
        (103, 3, 0, 80),  # 103 - 23 = 80, the cap
        (104, 3, 0, 80),  # 104 - 23 = 81, capped at 80
        (104, 30, 0, 74),  # 30 reserved slots are more than the 23 of headroom
        (104, 3, 5, 76),  # 5 sessions of another application: 81 - 5
        (104, 30, 5, 69),  # both
    ],
)
def test_the_probe_recommends_the_seeds_number_at_each_edge(
    server_of, sessions_on, run_check, max_connections, reserved, others, recommended
):
    server = server_of(max_connections, reserved)
    sessions_on(server).open(others, app="reporting-tool")
    dsn = server.url(user="monitor")

    probe = run_check("checks.capacity", "--dsn", dsn, "--json")
    text = run_check("checks.capacity", "--dsn", dsn)

    assert probe.returncode == 0, probe.stdout + probe.stderr
    assert (probe.data["max_connections"], probe.data["reserved_connections"]) == (
        max_connections,
        reserved,
    )
    assert probe.data["connections"]["other_applications"] == others
    assert probe.data["recommended_pool_max"] == recommended
    assert f"Recommended pool max: {recommended}" in text.stdout.splitlines()
    assert f"Suggested: DB_MAX_CONNECTIONS={recommended}" in text.stdout.splitlines()


@pytest.mark.parametrize(("pool_max", "code"), [(77, 0), (78, 3)])
def test_a_pool_max_one_above_the_recommendation_is_refused_naming_it_and_why(
    server_of, run_check, pool_max, code
):
    dsn = server_of(100).url(user="monitor")

    probe = run_check("checks.capacity", "--dsn", dsn, "--json", "--pool-max", str(pool_max))

    assert probe.returncode == code, probe.stdout + probe.stderr
    assert probe.data["recommended_pool_max"] == 77
    if code:
        assert probe.data["message"] == (
            "pool max 78 is above the recommended 77 for 1 web process: one process's pool "
            "may not exceed the budget (max_connections 100 - 23 headroom = 77)"
        )
