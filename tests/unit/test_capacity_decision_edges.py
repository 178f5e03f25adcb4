"""The capacity decision on both sides of every seed number (table tests, no database).

The seed: not safe with more than 5 slow queries, more than 10 lock waits or
utilisation above 70 % of the usable slots. Each rule is checked at its limit
(safe) and one step past it (not safe), alone, so a `>` turned into `>=` or a
limit off by one fails here. The limits are read from checks/thresholds.yml,
and one test pins them to the seed's numbers.
"""

from __future__ import annotations

import dataclasses

import pytest

from checks import thresholds
from checks.capacity.decide import ABOVE, NOT_SAFE, SAFE, decide, shown_pct, utilization_pct
from checks.capacity.demand import Fleet, WebGroup, WorkerGroup, single_pool
from tests.support.capacity import db_stats

LIMITS = thresholds.load().capacity
SLOW = LIMITS.max_slow_queries
LOCKS = LIMITS.max_lock_waits
UTIL = LIMITS.max_utilization_pct


def test_the_shipped_limits_are_the_seeds():
    assert (SLOW, LOCKS, UTIL) == (5, 10, 70)
    assert (LIMITS.headroom_connections, LIMITS.pool_max_cap) == (23, 80)


@pytest.mark.parametrize(
    ("stats", "safe", "warning"),
    [
        (db_stats(slow_queries=SLOW), True, None),
        (db_stats(slow_queries=SLOW + 1), False, f"{SLOW + 1} slow queries detected"),
        (db_stats(lock_waits=LOCKS), True, None),
        (db_stats(lock_waits=LOCKS + 1), False, f"{LOCKS + 1} lock waits detected"),
        # 1000 usable slots, so one connection is one tenth of a percent.
        (db_stats(total=700, usable=1000), True, None),
        (db_stats(total=701, usable=1000), False, "Connection utilization high: 70.1%"),
        # The seed's own server: 100 slots, 3 reserved; 67 of 97 is 69.1 %, 68 is 70.1 %.
        (db_stats(total=67, usable=97), True, None),
        (db_stats(total=68, usable=97), False, "Connection utilization high: 70.1%"),
        # Compared unrounded: 698 of 997 is 70.01 %, which one decimal would show as 70.0.
        (db_stats(total=698, usable=997), False, "Connection utilization high: 70.01%"),
        (db_stats(total=69998, usable=99999), True, None),  # 69.9987 %: below, though "70.00"
    ],
    ids=[
        "5-slow-safe",
        "6-slow-not-safe",
        "10-locks-safe",
        "11-locks-not-safe",
        "70.0pct-safe",
        "70.1pct-not-safe",
        "seed-server-67-safe",
        "seed-server-68-not-safe",
        "70.01pct-not-safe",
        "69.999pct-safe",
    ],
)
def test_each_rule_at_its_limit_is_safe_and_one_past_it_is_not(stats, safe, warning):
    verdict = decide(stats, single_pool(1, 10), LIMITS)

    assert verdict.safe is safe
    blocking = [w for w in verdict.warnings if "detected" in w or "utilization" in w]
    if warning is None:
        assert blocking == []
    else:
        assert len(blocking) == 1 and blocking[0].startswith(warning), verdict.warnings


def test_every_rule_breached_at_once_lists_every_reason():
    stats = db_stats(slow_queries=SLOW + 1, lock_waits=LOCKS + 1, total=701, usable=1000)

    verdict = decide(stats, single_pool(1, 10), LIMITS)

    assert verdict.safe is False
    assert [w.split(" ")[1] for w in verdict.warnings[:3]] == ["slow", "lock", "utilization"]


def test_utilization_is_of_the_usable_slots_only_and_unrounded():
    assert utilization_pct(db_stats(total=35, usable=97)) == 100 * 35 / 97
    assert utilization_pct(db_stats(total=2, usable=3)) == 200 / 3
    assert utilization_pct(db_stats(total=0, usable=0)) == 100.0
    assert utilization_pct(db_stats(total=0, usable=-1)) == 100.0


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (72.0, "72.0"),
        (100 * 22 / 30, "73.3"),
        (70.0, "70.0"),
        (100 * 698 / 997, "70.01"),  # above 70: one decimal would read as 70.0
        (100 * 69998 / 99999, "69.999"),  # below 70: two decimals would read as 70.00
        (69.96, "69.96"),
    ],
)
def test_utilization_is_rounded_for_display_only_and_never_onto_the_limit(value, shown):
    assert shown_pct(value, UTIL) == shown


def test_a_rounding_that_would_cross_a_limit_with_decimals_is_refined_too():
    # 70.101 shows as 70.1 at one decimal: below a limit of 70.1001, though it is above.
    assert shown_pct(70.101, 70.1001) == "70.101"


def test_a_fleet_with_room_for_one_connection_each_is_safe_and_one_more_process_is_not():
    # 100 slots, 3 reserved, 23 headroom: 77 connections for the pools; 77 processes
    # get one each, 78 get none.
    stats = db_stats(total=0, usable=97)

    fits = decide(stats, single_pool(77, 1), LIMITS)
    too_many = decide(stats, single_pool(78, 1), LIMITS)

    assert (fits.safe, fits.recommended_pool_max, fits.budget) == (True, 1, 77)
    assert (too_many.safe, too_many.recommended_pool_max, too_many.why_recommended) == (
        False,
        0,
        "",
    )
    assert too_many.warnings[0].startswith("No room for 78 pool(s): budget is 77 connections")


def test_current_pools_at_the_budget_are_safe_and_one_connection_over_is_above_it():
    stats = db_stats(total=0, usable=97)  # budget 77

    at = decide(stats, single_pool(7, 11), LIMITS)  # 77 = budget
    over = decide(stats, single_pool(6, 13), LIMITS)  # 78 > 77: 12 each would fit

    assert (at.verdict, at.safe, at.warnings) == (SAFE, True, ())
    assert (over.verdict, over.safe, over.recommended_pool_max) == (ABOVE, False, 12)
    assert over.above_message == (
        "pool max 13 is above the recommended 12 for 6 web processes: with more, 6 web "
        "processes would hold more than the budget of 77 connections "
        "(max_connections 100 - 23 headroom = 77)"
    )
    assert over.demand == 78


def test_hosts_with_different_pools_are_judged_by_the_largest_against_one_recommendation():
    # Budget 77: two web processes may have 38 each. Pools of 40 and 37 hold 77, within
    # the budget, but 40 is above what is recommended for any web process.
    stats = db_stats(total=0, usable=97)

    def hosts(first: int) -> Fleet:
        return Fleet(web=(WebGroup(1, first, host="app-1"), WebGroup(1, 37, host="app-2")))

    at, above = decide(stats, hosts(38), LIMITS), decide(stats, hosts(40), LIMITS)

    assert (at.verdict, at.recommended_pool_max) == (SAFE, 38)
    assert (above.demand, above.verdict, above.recommended_pool_max) == (77, ABOVE, 38)


# -- the seed's min(max_connections - 23, 80), for one web process and for a fleet -----


@pytest.mark.parametrize(
    ("max_connections", "recommended", "why"),
    [
        (100, 77, "one process's pool may not exceed the budget (max_connections 100 - 23 "),
        (103, 80, "never more than 80 per process (pool_max_cap)"),
        (104, 80, "never more than 80 per process (pool_max_cap)"),
    ],
)
def test_one_web_process_gets_the_seeds_recommendation(max_connections, recommended, why):
    stats = db_stats(total=0, usable=max_connections - 3)

    decided = decide(stats, single_pool(1, 50), LIMITS)

    assert decided.recommended_pool_max == recommended
    assert decided.why_recommended.startswith(why)


@pytest.mark.parametrize(("pool_max", "verdict"), [(77, SAFE), (78, ABOVE), (500, ABOVE)])
def test_a_pool_above_the_recommendation_is_above_it_whatever_the_threads_can_use(
    pool_max, verdict
):
    # 2 web processes (4 threads + 2 refreshes hold 6 each) and 2 workers: the fleet's
    # demand is 16 with any pool, yet no one pool may be larger than the budget of 77.
    stats = db_stats(total=0, usable=97)
    deployed = Fleet(
        web=(WebGroup(2, pool_max, threads=4, refreshes=2, host="app-1"),),
        workers=(WorkerGroup(2, 2, host="worker-1"),),
    )

    decided = decide(stats, deployed, LIMITS)

    assert (decided.verdict, decided.recommended_pool_max, decided.demand) == (verdict, 77, 16)
    if verdict == ABOVE:
        assert decided.above_message == (
            f"pool max {pool_max} is above the recommended 77 for 2 web processes + 2 workers: "
            "one process's pool may not exceed the budget (max_connections 100 - 23 headroom "
            "= 77)"
        )


def test_other_applications_and_reserved_slots_lower_the_recommendation():
    # 104 slots, 30 of them reserved (more than the 23 of headroom), 10 held by a reporting tool.
    stats = dataclasses.replace(db_stats(total=10, other=10, usable=101), superuser_reserved=30)

    decided = decide(stats, single_pool(1, 50), LIMITS)

    assert (decided.recommended_pool_max, decided.verdict) == (104 - 30 - 10, SAFE)
    assert decided.why_recommended == (
        "one process's pool may not exceed the budget (max_connections 104 - 30 headroom "
        "- 10 held by other applications = 64)"
    )


def test_an_idle_transaction_warns_with_its_count_and_oldest_age():
    leak = [
        dict(pid=1, user="app", application="w", age_s=12.4, query="SELECT 1"),
        dict(pid=2, user="app", application="w", age_s=99.6, query="SELECT 2"),
    ]
    verdict = decide(db_stats(idle_transactions=leak), single_pool(1, 10), LIMITS)

    assert verdict.safe is True
    assert verdict.warnings == (
        "2 idle-in-transaction session(s), oldest 100s - possible transaction leak; "
        "find the code that does not commit",
    )


def test_the_headroom_is_the_larger_of_the_setting_and_the_reserved_slots():
    few_reserved = db_stats(total=0, usable=97)  # 3 reserved < 23
    many_reserved = dataclasses.replace(few_reserved, superuser_reserved=30)

    assert decide(few_reserved, single_pool(1, 10), LIMITS).budget == 100 - 23
    assert decide(many_reserved, single_pool(1, 10), LIMITS).budget == 100 - 30


def test_one_usable_slot_is_a_real_denominator():
    assert utilization_pct(db_stats(total=0, usable=1)) == 0.0
    assert utilization_pct(db_stats(total=1, usable=1)) == 100.0


def test_the_verdict_carries_its_numbers_and_the_exact_reasons():
    stats = db_stats(slow_queries=SLOW + 1, total=60, usable=97)
    stats = dataclasses.replace(stats, max_connections=80, superuser_reserved=3)

    verdict = decide(stats, single_pool(100, 1), LIMITS)

    assert (verdict.utilization_pct, verdict.budget, verdict.recommended_pool_max) == (
        100 * 60 / 77,
        57,
        0,
    )
    assert verdict.verdict == NOT_SAFE
    assert verdict.warnings == (
        "6 slow queries detected (>1s) - Optimize queries before increasing pool",
        "Connection utilization high: 77.9% - Consider query optimization first",
        "No room for 100 pool(s): budget is 57 connections - "
        "Reduce other connections or raise max_connections",
    )


@pytest.mark.parametrize(("max_connections", "verdict"), [(33, SAFE), (32, ABOVE)])
def test_two_pools_of_five_fit_a_budget_of_ten_and_not_of_nine(max_connections, verdict):
    # budget = max_connections - 23 headroom
    stats = db_stats(total=0, usable=max_connections - 3)

    assert decide(stats, single_pool(2, 5), LIMITS).verdict == verdict


# -- the fleet: web and worker processes together ----------------------------------


def fleet(web: int = 0, web_pool: int = 5, threads: int | None = None, workers: int = 0):
    web_groups = (WebGroup(processes=web, pool_max=web_pool, threads=threads),) if web else ()
    worker_groups = (WorkerGroup(processes=workers, pool_max=2),) if workers else ()
    return Fleet(web=web_groups, workers=worker_groups)


def test_no_room_counts_web_and_worker_processes():
    stats = db_stats(total=0, usable=24)  # budget 27 - 23 = 4; 4 workers x 2 leave none

    verdict = decide(stats, fleet(web=3, workers=4), LIMITS)

    assert verdict.recommended_pool_max == 0
    assert verdict.warnings[0].startswith("No room for 7 pool(s): budget is 4 connections")


def test_a_fleet_without_web_processes_gets_no_web_recommendation_and_no_block():
    stats = db_stats(total=0, usable=24)  # budget 4, workers need 2 x 2 = 4

    verdict = decide(stats, fleet(workers=2), LIMITS)

    assert (verdict.verdict, verdict.recommended_pool_max, verdict.demand) == (SAFE, 0, 4)
    assert verdict.why_recommended == ""
    over = decide(stats, fleet(workers=3), LIMITS)  # 6 > 4, but no web pool to lower
    assert over.verdict == SAFE and over.above_message == ""


@pytest.mark.parametrize(
    ("max_connections", "verdict", "per_pool"),
    [
        (25, ABOVE, 1),  # budget 2: 2 x 2 = 4 > 2, one each would fit
        (26, ABOVE, 1),  # budget 3: still one each
        (27, SAFE, 2),  # budget 4 = demand: fits
    ],
)
def test_above_the_recommendation_from_one_connection_each_to_exactly_the_budget(
    max_connections, verdict, per_pool
):
    stats = db_stats(total=0, usable=max_connections - 3)

    decided = decide(stats, fleet(web=2, web_pool=2), LIMITS)

    assert (decided.verdict, decided.recommended_pool_max) == (verdict, per_pool)


def test_a_web_pool_beyond_its_threads_warns_and_at_its_threads_does_not():
    stats = db_stats(total=0, usable=97)
    at = decide(stats, fleet(web=2, web_pool=8, threads=8), LIMITS)
    beyond = decide(stats, fleet(web=2, web_pool=9, threads=8), LIMITS)

    assert at.usable_pool == 8 and at.warnings == ()
    assert beyond.warnings == (
        "A web pool above 8 cannot take effect: a web process holds at most its request "
        "threads + background refreshes. To use more connections, raise GUNICORN_THREADS, "
        "or add web processes or hosts",
    )
    assert decide(stats, fleet(web=2), LIMITS).usable_pool is None
