"""Two budgets, one gate (checks/capacity/budget.py), at both sides of each number."""

from __future__ import annotations

import pytest

from checks.capacity.budget import (
    CLIENT,
    DIRECT_SESSIONS,
    SERVER,
    Bouncer,
    bouncer_as_dict,
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
SHARES = " + ".join(
    [
        *(f"2 web x 6 on {h}" for h in ("app-1", "app-2")),
        *(f"2 workers x 2 on {h}" for h in ("worker-1", "worker-2")),
    ]
)


def bouncer(pool_size: int = 20, reserve: int = 5, max_client_conn: int = 1000) -> Bouncer:
    return Bouncer("db-1", pool_size, reserve, max_client_conn)


def test_the_direct_sessions_are_the_migrations_the_checks_and_the_exporter():
    assert direct_sessions() == sum(DIRECT_SESSIONS.values()) == 6


@pytest.mark.parametrize(
    ("pool_size", "line", "fits"),
    [
        (
            66,
            "server side (PostgreSQL): 77 within 77 (PgBouncer's pools 71 + 6 direct sessions;"
            " max_connections 100 - 23 headroom)",
            True,
        ),
        (
            67,
            "server side (PostgreSQL): 78 above 77 (PgBouncer's pools 72 + 6 direct sessions;"
            " max_connections 100 - 23 headroom); fix: lower pgbouncer_default_pool_size or"
            " pgbouncer_reserve_pool_size, or raise max_connections (postgresql_max_connections)",
            False,
        ),
    ],
)
def test_server_side_counts_the_bouncers_pools_and_the_direct_sessions(pool_size, fits, line):
    # 66 + 5 reserve + 6 direct = 77 = 100 - 23.
    layers = check(LAB, MAX - RESERVED, MAX, HEADROOM, (bouncer(pool_size=pool_size),))

    server = layers[0]
    assert (server.name, server.demand, server.budget) == (SERVER, pool_size + 11, 77)
    assert server.line() == line
    assert refusal(layers) == (None if fits else line)


@pytest.mark.parametrize(
    ("host", "max_client_conn", "line", "fits"),
    [
        (
            "db-1",
            32,
            "client side (PgBouncer): 32 within 32 (the fleet's pools; max_client_conn on db-1)",
            True,
        ),
        (
            "",
            31,
            "client side (PgBouncer): 32 above 31 (the fleet's pools; max_client_conn on ?);"
            " fix: raise pgbouncer_max_client_conn, or fewer processes or threads",
            False,
        ),
    ],
)
def test_client_side_is_the_fleets_demand_against_max_client_conn(
    host, max_client_conn, fits, line
):
    # The tightest bouncer is named, "?" when the fleet file gives it no host.
    layers = check(LAB, MAX - RESERVED, MAX, HEADROOM, (Bouncer(host, 20, 5, max_client_conn),))

    client = layers[1]
    assert (client.name, client.demand, client.budget) == (CLIENT, 32, max_client_conn)
    assert client.line() == line
    assert refusal(layers) == (None if fits else line)


@pytest.mark.parametrize(
    ("usable", "line", "fits"),
    [
        (
            32,
            "server side (PostgreSQL): 32 within 32 (the fleet's pools on PostgreSQL's usable"
            " slots: the fleet can hold 32 connections at once but PostgreSQL has 32 usable"
            f" slots ({SHARES}))",
            True,
        ),
        (
            31,
            "server side (PostgreSQL): 32 above 31 (the fleet's pools on PostgreSQL's usable"
            " slots: the fleet can hold 32 connections at once but PostgreSQL has 31 usable"
            f" slots ({SHARES})); fix: raise max_connections (postgresql_max_connections), or"
            " lower the web pool (goalgpt_base_db_max_connections) to 5 or less, or fewer web"
            " threads or processes, or fewer worker processes (goalgpt_workers_count) or"
            " JOB_DB_MAX_CONNECTIONS, or put PgBouncer in front (a pgbouncer group in the"
            " inventory)",
            False,
        ),
    ],
)
def test_direct_the_fleets_demand_is_counted_on_the_usable_slots(usable, fits, line):
    layers = check(LAB, usable, MAX, HEADROOM)

    assert [layer.name for layer in layers] == [SERVER]
    assert layers[0].line() == line  # the fix only when it does not fit
    assert refusal(layers) == (None if fits else line)


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


def test_a_layer_and_a_bouncer_as_the_probe_and_the_fleet_file_write_them():
    server, client = check(LAB, MAX - RESERVED, MAX, HEADROOM, (bouncer(max_client_conn=31),))

    assert server.as_dict() == {"name": SERVER, "demand": 31, "budget": 77}
    assert client.as_dict() == {"name": CLIENT, "demand": 32, "budget": 31}
    assert bouncer_as_dict(Bouncer("db-1", 20, 5, 1000, pairs=2)) == {
        "host": "db-1",
        "pool_size": 20,
        "reserve": 5,
        "max_client_conn": 1000,
    }


@pytest.mark.parametrize(
    ("name", "value", "read"),
    [
        ("pool_size", 1, 1),
        ("pool_size", " 7 ", 7),
        ("reserve", 0, 0),
        ("max_client_conn", 1, 1),
    ],
)
def test_a_bouncers_numbers_at_their_least(name, value, read):
    given = {"pool_size": 20, "reserve": 5, "max_client_conn": 1000} | {name: value}

    (read_back,) = bouncers_from({"bouncers": [given]})

    assert getattr(read_back, name) == read
    assert read_back.host == ""


@pytest.mark.parametrize(
    ("name", "value", "least"),
    [
        ("pool_size", 0, 1),
        ("reserve", -1, 0),
        ("max_client_conn", 0, 1),
        ("reserve", True, 0),
        ("reserve", "5a", 0),
        ("reserve", None, 0),
    ],
)
def test_a_bouncers_number_below_its_least_or_not_whole_is_one_line(name, value, least):
    given = {"pool_size": 20, "reserve": 5, "max_client_conn": 1000} | {name: value}

    with pytest.raises(FleetError) as refused:
        bouncers_from({"bouncers": [given]})

    assert str(refused.value) == f"bouncer {name} must be a whole number >= {least}, not {value!r}"


@pytest.mark.parametrize("bouncers", [None, []])
def test_no_bouncers_is_a_direct_fleet(bouncers):
    assert bouncers_from({"bouncers": bouncers}) == ()


@pytest.mark.parametrize("bouncers", [5, ["db-1"]])
def test_bouncers_that_are_not_a_list_of_mappings_are_one_line(bouncers):
    with pytest.raises(FleetError, match=r"^not a list of bouncers: "):
        bouncers_from({"bouncers": bouncers})


def test_the_largest_fleets_grow_the_first_web_group_alone_and_may_hold_no_process():
    first, second = (
        WebGroup(2, 50, threads=t, refreshes=2, host=h) for t, h in ((4, "a"), (8, "b"))
    )
    mixed = Fleet(web=(first, second), workers=LAB.workers)

    # 17 usable slots: 8 for the workers, then 6 per process of the first group (10 of
    # the second); the bouncer's 25 + 6 direct sessions never fit in 20.
    assert largest_fleets(mixed, 20, 3, 0, bouncer()) == {"direct": 1, "through PgBouncer": 0}
