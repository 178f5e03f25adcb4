"""`python -m checks.capacity` against a real PostgreSQL with real sessions in it."""

from __future__ import annotations

import time

import pytest

from tests.operator_checks.pgsessions import with_monitor_role
from tests.support.checks import MONITOR_PASSWORD, NOGRANT_PASSWORD
from tests.support.servers import free_port

SLEEPING = (
    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
    "AND state = 'active' AND query LIKE '%pg_sleep%'"
)
SLOW_OLDER_THAN = SLEEPING + " AND clock_timestamp() - query_start > interval '{} seconds'"
UNGRANTED = "SELECT count(*) FROM pg_locks WHERE NOT granted"
IDLE_IN_TRANSACTION_OLDER_THAN = (
    "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction' "
    "AND clock_timestamp() - xact_start > interval '{} seconds'"
)


def test_seed_example_recommends_77_and_is_safe_as_a_pg_monitor_role(
    sessions, monitor_url, run_check, thresholds_file
):
    # The seed: max_connections 100, 35 connections (15 active, 20 idle), 2 slow, 0 locks.
    # "Slow" is 8 s: the 13 fresh queries must still be younger than that when both
    # probe runs have finished; on a machine slow enough to let them age past it, they
    # are started afresh and the probe runs again.
    limits = thresholds_file(capacity={"slow_query_s": 8})
    idle = sessions.open(20)
    sessions.running(2)
    sessions.wait_for(idle[0], SLOW_OLDER_THAN.format(8.2), 2)
    fresh = sessions.running(13)
    for _attempt in range(3):
        sessions.wait_for(idle[0], SLEEPING, 15)
        text = run_check("checks.capacity", "--dsn", monitor_url, "--thresholds", limits)
        probe = run_check("checks.capacity", "--dsn", monitor_url, "--thresholds", limits, "--json")
        if idle[0].execute(SLOW_OLDER_THAN.format(8)).fetchone()[0] == 2:
            break
        sessions.restart(fresh)
    else:
        pytest.fail("the fresh queries aged past 8 s during the probe, three times")

    assert text.returncode == 0, text.stdout + text.stderr
    for line in [
        "DB max_connections: 100",
        "Current connections: 35",
        "  Active: 15",
        "  Idle: 20",
        "Slow queries (>8s): 2",
        "Lock waits: 0",
        "Recommended pool max: 77",
        "Can increase pool? ✅ YES",
        "✅ All checks passed - safe to increase pool max",
        "Suggested: DB_MAX_CONNECTIONS=77",
    ]:
        assert line in text.stdout.splitlines()
    assert probe.returncode == 0
    assert probe.data["safe"] is True
    assert probe.data["recommended_pool_max"] == 77
    assert probe.data["max_connections"] == 100
    assert probe.data["connections"] == {
        "total": 35,
        "active": 15,
        "idle": 20,
        "idle_in_transaction": 0,
        "pools": 35,
        "other_applications": 0,
    }
    assert (probe.data["slow_queries"], probe.data["lock_waits"]) == (2, 0)
    assert probe.data["utilization_pct"] == pytest.approx(100 * 35 / 97, abs=0.1)
    assert probe.data["warnings"] == []


def test_twelve_slow_queries_are_not_safe(sessions, monitor_url, run_check):
    idle = sessions.open(1)
    sessions.running(12)
    sessions.wait_for(idle[0], SLOW_OLDER_THAN.format(1.2), 12)

    text = run_check("checks.capacity", "--dsn", monitor_url)
    probe = run_check("checks.capacity", "--dsn", monitor_url, "--json")

    assert text.returncode == 1
    assert "⚠️ 12 slow queries detected (>1s) - Optimize queries before increasing pool" in (
        text.stdout
    )
    assert "⚠️ FIX WARNINGS BEFORE INCREASING POOL MAX" in text.stdout
    assert "Can increase pool? ❌ NO" in text.stdout
    assert probe.returncode == 1
    assert (probe.data["safe"], probe.data["slow_queries"]) == (False, 12)


def test_eleven_ungranted_locks_are_not_safe(sessions, monitor_url, run_check, thresholds_file):
    # Waiting for a lock is also a slow query; a long "slow" isolates the lock rule.
    limits = thresholds_file(capacity={"slow_query_s": 3600})
    holder = sessions.open(1)[0]
    holder.execute("BEGIN")
    holder.execute("LOCK TABLE contended IN ACCESS EXCLUSIVE MODE")
    sessions.running(11, "SELECT count(*) FROM contended")
    watcher = sessions.open(1)[0]
    sessions.wait_for(watcher, UNGRANTED, 11)

    probe = run_check("checks.capacity", "--dsn", monitor_url, "--thresholds", limits, "--json")

    assert probe.returncode == 1
    assert (probe.data["safe"], probe.data["lock_waits"], probe.data["slow_queries"]) == (
        False,
        11,
        0,
    )
    assert "11 lock waits detected - Investigate lock contention first" in probe.data["warnings"]


def test_idle_in_transaction_sessions_are_reported_as_a_leak_with_their_age(
    sessions, monitor_url, run_check
):
    began = time.time()
    sessions.idle_in_transaction(2, app="leaky-report")
    watcher = sessions.open(1)[0]
    sessions.open(2)
    sessions.wait_for(watcher, IDLE_IN_TRANSACTION_OLDER_THAN.format(1), 2)

    probe = run_check("checks.capacity", "--dsn", monitor_url, "--json")
    text = run_check("checks.capacity", "--dsn", monitor_url)
    probed = time.time()

    assert probe.returncode == 0, "a leak warns but does not block"
    assert probe.data["connections"]["idle_in_transaction"] == 2
    leaks = probe.data["idle_in_transaction_sessions"]
    assert [s["application"] for s in leaks] == ["leaky-report", "leaky-report"]
    # Their transactions' age (rounded to 0.1 s): over the second waited for, and at most
    # the time since they began.
    assert all(1.0 <= s["age_s"] <= probed - began + 0.05 for s in leaks), leaks
    assert any("possible transaction leak" in w for w in probe.data["warnings"])
    assert "--- IDLE IN TRANSACTION ---" in text.stdout


def test_other_applications_connections_shrink_the_recommendation(sessions, monitor_url, run_check):
    sessions.open(10, app="reporting-tool")
    sessions.open(5)

    probe = run_check("checks.capacity", "--dsn", monitor_url, "--json")

    assert probe.data["connections"]["other_applications"] == 10
    assert probe.data["recommended_pool_max"] == 100 - 23 - 10


def test_four_web_processes_share_the_budget_without_exceeding_max_connections(
    sessions, monitor_url, run_check
):
    sessions.open(7, app="reporting-tool")
    sessions.open(8)

    probe = run_check("checks.capacity", "--dsn", monitor_url, "--web-processes", "4", "--json")

    data = probe.data
    per_pool = data["recommended_pool_max"]
    assert per_pool == (100 - 23 - 7) // 4
    total = 4 * per_pool + data["connections"]["other_applications"]
    assert total + data["reserved_connections"] <= data["max_connections"]


def test_unreachable_server_exits_2_with_one_line(run_check):
    dsn = f"postgresql://monitor@127.0.0.1:{free_port()}/postgres"

    probe = run_check("checks.capacity", "--dsn", dsn)

    assert probe.returncode == 2
    assert probe.stdout == ""
    assert probe.stderr.count("\n") == 1
    assert probe.stderr.startswith("capacity check failed: cannot connect to")
    assert "Connection refused" in probe.stderr


def test_wrong_password_exits_2_with_one_line_and_no_secret(capacity_pg, run_check):
    dsn = capacity_pg.url(user="monitor", password="not-" + MONITOR_PASSWORD)

    probe = run_check("checks.capacity", "--dsn", dsn, "--json")

    assert probe.returncode == 2
    assert probe.stderr.count("\n") == 1
    assert 'password authentication failed for user "monitor"' in probe.stderr
    assert MONITOR_PASSWORD not in probe.stderr + probe.stdout
    assert "error" in probe.data


def test_missing_pg_monitor_grant_exits_2_naming_the_grant(capacity_pg, sessions, run_check):
    sessions.open(2)
    dsn = capacity_pg.url(user="nogrant", password=NOGRANT_PASSWORD)

    probe = run_check("checks.capacity", "--dsn", dsn)

    assert probe.returncode == 2
    assert probe.stderr == (
        "capacity check failed: role nogrant cannot see other sessions' state: "
        "GRANT pg_monitor TO nogrant (or run as a superuser)\n"
    )


def test_bad_arguments_and_thresholds_are_one_line_errors(monitor_url, run_check, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("capacity: {}\nmonitor: {}\n")

    processes = run_check("checks.capacity", "--dsn", monitor_url, "--web-processes", "0")
    limits = run_check("checks.capacity", "--dsn", monitor_url, "--thresholds", str(bad))

    assert processes.returncode == 2
    assert "--web-processes: 0 must be 1 or more" in processes.stderr
    assert limits.returncode == 2
    assert limits.stderr == "capacity check failed: thresholds: missing key capacity.slow_query_s\n"


@pytest.fixture(scope="module")
def tiny_pg(start_postgres):
    """25 usable slots (28 minus 3 reserved) and a pg_monitor role, trust auth."""
    return with_monitor_role(start_postgres(max_connections=28))


def test_utilization_of_72_percent_of_usable_slots_is_not_safe(tiny_pg, sessions_on, run_check):
    sessions_on(tiny_pg).open(18)

    probe = run_check("checks.capacity", "--dsn", tiny_pg.url(user="monitor"), "--json")

    assert probe.returncode == 1
    assert (probe.data["utilization_pct"], probe.data["utilization_shown"]) == (72.0, "72.0")
    assert (
        "Connection utilization high: 72.0% - Consider query optimization first"
        in (probe.data["warnings"])
    )


@pytest.mark.parametrize(
    ("held", "user", "server_says"),
    [
        (25, "monitor", "remaining connection slots are reserved"),
        (28, "postgres", "sorry, too many clients already"),
    ],
)
def test_refusal_for_lack_of_slots_is_a_finding_not_safe(
    tiny_pg, sessions_on, run_check, held, user, server_says
):
    sessions_on(tiny_pg).open(held)

    text = run_check("checks.capacity", "--dsn", tiny_pg.url(user=user))
    probe = run_check("checks.capacity", "--dsn", tiny_pg.url(user=user), "--json")

    assert text.returncode == 1
    assert "PostgreSQL refused the probe's connection" in text.stdout
    assert server_says in text.stdout
    assert "Can increase pool? ❌ NO" in text.stdout
    assert probe.returncode == 1
    assert (probe.data["safe"], probe.data["refused"]) == (False, True)


def test_the_probe_reads_only_the_pool_max_so_a_bad_job_setting_does_not_stop_it(
    monitor_url, run_check
):
    # The probe runs with the service environment, where a job setting may be wrong:
    # that is the jobs' problem, not a reason for "could not check".
    probe = run_check(
        "checks.capacity", "--dsn", monitor_url, "--json", MATCH_MINUTE_CRON="every minute"
    )

    assert probe.returncode in (0, 1, 3), probe.stderr
    assert "MATCH_MINUTE_CRON" not in probe.stderr
