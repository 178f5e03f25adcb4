"""`python -m checks.capacity` through PgBouncer: both budgets and each bouncer's own view
(SHOW POOLS, SHOW STATS), against a real PostgreSQL and a real PgBouncer in front of it."""

from __future__ import annotations

import json

import pytest

from tests.support.pgbouncer import clients_waiting

# Four times the lab's web processes: 16 x (4 threads + 2 refreshes) + 4 workers x 2 = 104,
# above the database's 100 slots; one PgBouncer with pool 20 + reserve 5 in front.
FOUR_TIMES_THE_LAB = {
    "web": [
        {"host": h, "processes": 8, "threads": 4, "refreshes": 2, "pool_max": 50}
        for h in ("app-1", "app-2")
    ],
    "workers": [{"host": h, "processes": 2, "pool_max": 2} for h in ("worker-1", "worker-2")],
}
BOUNCER = {"host": "db-1", "pool_size": 20, "reserve": 5, "max_client_conn": 1000}


@pytest.fixture
def fleet_of(tmp_path):
    def write(bouncers: list[dict]) -> str:
        path = tmp_path / f"fleet-{len(bouncers)}-{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps(FOUR_TIMES_THE_LAB | {"bouncers": bouncers}))
        return str(path)

    return write


def test_a_fleet_above_max_connections_is_safe_behind_pgbouncer_and_shows_its_queue(
    monitor_url, run_check, fleet_of, bouncer_urls
):
    pooled_url, console_url = bouncer_urls
    behind = fleet_of([BOUNCER])
    direct = fleet_of([])
    alone = run_check("checks.capacity", "--dsn", monitor_url, "--fleet", direct, "--json")
    with clients_waiting(pooled_url, console_url, 3):
        text = run_check(
            "checks.capacity", "--dsn", monitor_url, "--fleet", behind,
            GOALGPT_PGBOUNCER_DSN=console_url,
        )  # fmt: skip
        probe = run_check(
            "checks.capacity", "--dsn", monitor_url, "--fleet", behind, "--json",
            GOALGPT_PGBOUNCER_DSN=console_url,
        )  # fmt: skip

    assert alone.returncode == 3, alone.stdout  # direct, 104 connections do not fit 100
    assert probe.returncode == 0, probe.stdout + probe.stderr
    layers = probe.data["pgbouncer"]["layers"]
    assert layers == [
        {"name": "server side (PostgreSQL)", "demand": 31, "budget": 77, "fits": True},
        {"name": "client side (PgBouncer)", "demand": 104, "budget": 1000, "fits": True},
    ]
    (seen,) = probe.data["pgbouncer"]["bouncers"]
    assert (seen["client_waiting"], seen["server_active"]) == (3, 1)
    assert probe.data["recommended_pool_max"] == 80  # the seed's cap: PgBouncer has room
    assert "--- PGBOUNCER ---" in text.stdout
    assert "  Clients waiting: 3" in text.stdout


@pytest.mark.parametrize(
    ("args", "layer"),
    [
        (("--pgbouncer-pool-size", "67"), "server side (PostgreSQL): 78 above 77"),
        (("--pgbouncer-pool-size", "66"), None),
    ],
)
def test_a_pgbouncer_pool_the_database_cannot_take_is_refused_naming_the_server_side(
    monitor_url, run_check, fleet_of, args, layer
):
    probe = run_check(
        "checks.capacity", "--dsn", monitor_url, "--fleet", fleet_of([BOUNCER]), *args, "--json"
    )

    assert probe.returncode == (1 if layer else 0), probe.stdout + probe.stderr
    refusals = [w for w in probe.data["warnings"] if w.startswith("server side")]
    assert len(refusals) == (1 if layer else 0)
    assert all(w.startswith(layer) for w in refusals)


def test_a_web_pool_pgbouncer_cannot_take_is_above_the_recommendation(
    monitor_url, run_check, fleet_of
):
    # 104 connections against 100 client slots: the web pool must come down to 5 (5 x 16 + 8).
    probe = run_check(
        "checks.capacity", "--dsn", monitor_url, "--json",
        "--fleet", fleet_of([BOUNCER | {"max_client_conn": 100}]),
    )  # fmt: skip

    assert probe.returncode == 3, probe.stdout
    assert probe.data["recommended_pool_max"] == 5
    assert "client side (PgBouncer): 104 above 100" in probe.data["message"]


def test_the_judged_pgbouncer_pool_needs_pgbouncer_in_the_fleet(monitor_url, run_check, fleet_of):
    probe = run_check(
        "checks.capacity",
        "--dsn",
        monitor_url,
        "--fleet",
        fleet_of([]),
        "--pgbouncer-pool-size",
        "30",
    )

    assert probe.returncode == 2
    assert "--pgbouncer-pool-size: the fleet in" in probe.stderr
    assert "has no PgBouncer" in probe.stderr
