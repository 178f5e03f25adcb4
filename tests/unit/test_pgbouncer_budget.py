"""Two budgets, one gate (checks/capacity/budget.py), at both sides of each number."""

from __future__ import annotations

import pytest

from checks.capacity.budget import (
    CLIENT,
    DIRECT_SESSIONS,
    SERVER,
    Bouncer,
    bouncers_from,
    check,
    direct_sessions,
    largest_fleets,
    refusal,
)
from checks.capacity.demand import Fleet, FleetError, WebGroup, WorkerGroup

# The lab: 2 app hosts x 2 web processes (4 threads + 2 refreshes), 2 worker hosts x 2.
LAB = Fleet(
    web=tuple(WebGroup(2, 50, threads=4, refreshes=2, host=h) for h in ("app-1", "app-2")),
    workers=tuple(WorkerGroup(2, 2, host=h) for h in ("worker-1", "worker-2")),
)
MAX, RESERVED, HEADROOM = 100, 3, 23


def bouncer(pool_size: int = 20, reserve: int = 5, max_client_conn: int = 1000) -> Bouncer:
    return Bouncer("db-1", pool_size, reserve, max_client_conn)


def test_the_direct_sessions_are_the_migrations_the_checks_and_the_exporter():
    assert direct_sessions() == sum(DIRECT_SESSIONS.values()) == 6


@pytest.mark.parametrize(("pool_size", "fits"), [(66, True), (67, False)])
def test_server_side_counts_the_bouncers_pools_and_the_direct_sessions(pool_size, fits):
    # 66 + 5 reserve + 6 direct = 77 = 100 - 23.
    layers = check(LAB, MAX - RESERVED, MAX, HEADROOM, (bouncer(pool_size=pool_size),))

    server = layers[0]
    assert (server.name, server.demand, server.budget) == (SERVER, pool_size + 11, 77)
    assert (refusal(layers) is None) is fits
    if not fits:
        assert refusal(layers).startswith("server side (PostgreSQL): 78 above 77 (PgBouncer's")
        assert "fix: lower pgbouncer_default_pool_size" in refusal(layers)


@pytest.mark.parametrize(("max_client_conn", "fits"), [(32, True), (31, False)])
def test_client_side_is_the_fleets_demand_against_max_client_conn(max_client_conn, fits):
    layers = check(LAB, MAX - RESERVED, MAX, HEADROOM, (bouncer(max_client_conn=max_client_conn),))

    client = layers[1]
    assert (client.name, client.demand, client.budget) == (CLIENT, 32, max_client_conn)
    assert (refusal(layers) is None) is fits
    if not fits:
        assert refusal(layers).startswith("client side (PgBouncer): 32 above 31")
        assert "fix: raise pgbouncer_max_client_conn" in refusal(layers)


@pytest.mark.parametrize(("usable", "fits"), [(32, True), (31, False)])
def test_direct_the_fleets_demand_is_counted_on_the_usable_slots(usable, fits):
    layers = check(LAB, usable, MAX, HEADROOM)

    assert [layer.name for layer in layers] == [SERVER]
    assert (refusal(layers) is None) is fits
    if not fits:
        text = refusal(layers)
        assert "the fleet can hold 32 connections at once but PostgreSQL has 31" in text
        assert text.endswith("or put PgBouncer in front (a pgbouncer group in the inventory)")


def test_four_times_the_labs_web_processes_need_the_bouncer():
    four_times = Fleet(
        web=tuple(WebGroup(8, 50, threads=4, refreshes=2, host=h) for h in ("app-1", "app-2")),
        workers=LAB.workers,
    )

    assert four_times.demand == 104 > MAX
    assert refusal(check(four_times, MAX - RESERVED, MAX, HEADROOM)).startswith(
        "server side (PostgreSQL): 104 above 97"
    )
    assert refusal(check(four_times, MAX - RESERVED, MAX, HEADROOM, (bouncer(),))) is None


def test_every_bouncer_adds_its_pools_and_the_tightest_one_bounds_the_clients():
    two = (Bouncer("b-1", 20, 5, 1000), Bouncer("b-2", 10, 0, 40))

    server, client = check(LAB, MAX - RESERVED, MAX, HEADROOM, two)

    assert server.demand == 25 + 10 + 6
    assert client.budget == 40 and "max_client_conn on b-2" in client.line()


def test_the_largest_fleet_each_mode_admits_on_max_connections_100():
    assert largest_fleets(LAB, MAX, RESERVED, HEADROOM, bouncer()) == {
        "direct": 14,  # 14 x 6 + 8 = 92 of 97; 15 would be 98
        "through PgBouncer": 165,  # 165 x 6 + 8 = 998 of 1000
    }


def test_bouncers_are_read_from_the_fleet_file_and_a_bad_one_is_one_line():
    data = {"bouncers": [{"host": "db-1", "pool_size": "20", "reserve": 5, "max_client_conn": 9}]}

    assert bouncers_from(data) == (Bouncer("db-1", 20, 5, 9),)
    assert bouncers_from({}) == ()
    with pytest.raises(FleetError, match="bouncer pool_size must be a whole number >= 1, not 0"):
        bouncers_from({"bouncers": [{"pool_size": 0, "reserve": 0, "max_client_conn": 1}]})
