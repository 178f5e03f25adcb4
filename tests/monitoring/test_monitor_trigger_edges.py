"""The monitor's triggers on both sides of every seed number (no servers, times given).

Seed: more than 3 too-many-clients errors in one hour; pool waiting above 5;
cache hit rate below 50 % over the last 5 minutes, with at least 20 requests;
more than 45 active connections for 5 minutes. Each test feeds counters the way
/metrics would (cumulative values; the first scrape is the baseline) at chosen
monotonic times, and reads the breach the evaluator reports.
"""

from __future__ import annotations

import pytest

from checks import thresholds
from checks.monitor.sources import Sample
from checks.monitor.triggers import Evaluator, Trigger

LIMITS = thresholds.load().monitor
URL = "http://app-1/metrics"
TOO_MANY = (URL, (("source", "connect"),))


def errors_at(total: float) -> Sample:
    return Sample(too_many_clients={TOO_MANY: total}, scraped=[URL])


def cache_at(hits: float, misses: float, stale: float = 0) -> Sample:
    values = {(URL, (("result", r),)): v for r, v in (("hit", hits), ("miss", misses))}
    values[(URL, (("result", "stale"),))] = stale
    return Sample(cache_requests=values, scraped=[URL])


def feed(evaluator: Evaluator, steps: list[tuple[float, Sample]]):
    return [evaluator.step(now, sample) for now, sample in steps][-1]


def test_the_shipped_numbers_are_the_seeds():
    m = LIMITS
    assert (m.max_clients_errors.trigger_above, m.max_clients_errors.window_s) == (3, 3600)
    assert m.pool_waiting.trigger_above == 5
    assert (m.cache_hit_rate.trigger_below_pct, m.cache_hit_rate.window_s) == (50, 300)
    assert m.cache_hit_rate.min_requests == 20
    assert (m.db_active_connections.trigger_above, m.db_active_connections.sustained_s) == (
        45,
        300,
    )


# -- too many clients: > 3 in one hour --------------------------------------------


@pytest.mark.parametrize(
    ("error_times", "breached", "in_window"),
    [
        ([1, 1200, 2400], False, 3),  # three within the hour: at the limit
        ([1, 1200, 2400, 3600], True, 4),  # the fourth 3599 s after the first
        ([1, 1200, 2400, 3601], False, 3),  # the fourth 3600 s after: the first has left
        ([1, 3601, 7201, 10801], False, 1),  # one an hour, forever
    ],
    ids=["3-in-hour", "4-within-3599s", "4-over-3600s", "one-per-hour"],
)
def test_too_many_clients_fires_from_the_fourth_error_within_3599_seconds(
    error_times, breached, in_window
):
    evaluator = Evaluator(LIMITS)
    evaluator.step(0, errors_at(0))  # baseline

    readings = [evaluator.step(t, errors_at(n)) for n, t in enumerate(error_times, start=1)]
    last = readings[-1]

    assert last.values["max_clients_errors"] == in_window
    assert last.breached["max_clients_errors"] is breached
    assert not any(r.breached["max_clients_errors"] for r in readings[:-1])


@pytest.mark.parametrize(("errors", "breached"), [(3, False), (4, True)])
def test_errors_seen_in_one_sample_count_together(errors, breached):
    evaluator = Evaluator(LIMITS)
    evaluator.step(0, errors_at(0))

    reading = evaluator.step(1, errors_at(errors))

    assert reading.breached["max_clients_errors"] is breached


def test_the_first_scrape_is_a_baseline_not_a_burst_of_errors():
    evaluator = Evaluator(LIMITS)

    first = evaluator.step(0, errors_at(500))
    second = evaluator.step(60, errors_at(503))

    assert first.values["max_clients_errors"] == 0
    assert (second.values["max_clients_errors"], second.breached["max_clients_errors"]) == (
        3,
        False,
    )


def test_a_restarted_app_counts_its_new_errors_from_zero():
    evaluator = Evaluator(LIMITS)
    evaluator.step(0, errors_at(10))

    reading = evaluator.step(60, errors_at(4))  # restarted: the counter began again at 0

    assert reading.values["max_clients_errors"] == 4
    assert reading.breached["max_clients_errors"]


def test_nothing_scraped_gives_no_error_count_rather_than_zero():
    reading = Evaluator(LIMITS).step(0, Sample())

    assert reading.values["max_clients_errors"] is None
    assert reading.values["cache_hit_rate"] is None
    assert not any(reading.breached.values())


# -- pool waiting: > 5 --------------------------------------------------------------


@pytest.mark.parametrize(("waiting", "breached"), [(0, False), (5, False), (6, True)])
def test_pool_waiting_fires_above_five(waiting, breached):
    reading = Evaluator(LIMITS).step(0, Sample(pool_waiting=waiting, scraped=[URL]))

    assert reading.values["pool_waiting"] == waiting
    assert reading.breached["pool_waiting"] is breached


def test_pool_waiting_that_could_not_be_read_never_fires():
    reading = Evaluator(LIMITS).step(0, Sample(pool_waiting=None))

    assert reading.breached["pool_waiting"] is False


# -- cache hit rate: < 50 % over 5 minutes, at least 20 requests --------------------


@pytest.mark.parametrize(
    ("hits", "misses", "rate", "breached"),
    [
        (500, 500, 50.0, False),
        (499, 501, 49.9, True),
        (10, 10, 50.0, False),
        (9, 11, 45.0, True),
    ],
)
def test_hit_rate_fires_below_50_not_at_50(hits, misses, rate, breached):
    reading = feed(Evaluator(LIMITS), [(0, cache_at(0, 0)), (60, cache_at(hits, misses))])

    assert reading.values["cache_hit_rate"] == pytest.approx(rate)
    assert reading.breached["cache_hit_rate"] is breached


def test_stale_answers_count_as_hits():
    reading = feed(Evaluator(LIMITS), [(0, cache_at(0, 0)), (60, cache_at(5, 10, stale=5))])

    assert reading.values["cache_hit_rate"] == 50.0


@pytest.mark.parametrize(("requests", "measured"), [(19, False), (20, True)])
def test_fewer_than_20_requests_in_the_window_say_nothing(requests, measured):
    reading = feed(Evaluator(LIMITS), [(0, cache_at(0, 0)), (60, cache_at(0, requests))])

    assert (reading.values["cache_hit_rate"] is not None) is measured
    assert reading.breached["cache_hit_rate"] is measured  # all misses: 0 % when measured


def test_the_five_minute_window_slides_past_old_misses():
    evaluator = Evaluator(LIMITS)
    evaluator.step(0, cache_at(0, 0))
    misses = evaluator.step(10, cache_at(0, 20))  # 20 misses at t=10
    both = evaluator.step(309, cache_at(20, 20))  # 20 hits at t=309: misses still inside
    hits_only = evaluator.step(310, cache_at(20, 20))  # t=310: the misses are 300 s old

    assert (misses.values["cache_hit_rate"], misses.breached["cache_hit_rate"]) == (0.0, True)
    assert (both.values["cache_hit_rate"], both.breached["cache_hit_rate"]) == (50.0, False)
    assert (hits_only.values["cache_hit_rate"], hits_only.breached["cache_hit_rate"]) == (
        100.0,
        False,
    )


def test_old_requests_leaving_the_window_can_drop_it_below_20():
    evaluator = Evaluator(LIMITS)
    evaluator.step(0, cache_at(0, 0))
    evaluator.step(10, cache_at(10, 10))
    later = evaluator.step(200, cache_at(19, 10))  # 29 in the window
    after = evaluator.step(310, cache_at(19, 10))  # the first 20 left: 9 remain

    assert later.values["cache_hit_rate"] == pytest.approx(100 * 19 / 29)
    assert after.values["cache_hit_rate"] is None


# -- active connections: > 45 for 5 minutes -------------------------------------------


@pytest.mark.parametrize(
    ("active", "held_s", "breached"),
    [(46, 299, False), (46, 300, True), (45, 600, False)],
)
def test_active_connections_fire_above_45_once_held_for_300_seconds(active, held_s, breached):
    evaluator = Evaluator(LIMITS)
    evaluator.step(0, Sample(db_active=active))

    reading = evaluator.step(held_s, Sample(db_active=active))

    assert reading.breached["db_active_connections"] is breached


def test_totals_add_every_increase_over_the_run():
    evaluator = Evaluator(LIMITS)
    evaluator.step(0, Sample(too_many_clients={TOO_MANY: 2}, scraped=[URL]))
    evaluator.step(60, Sample(too_many_clients={TOO_MANY: 5}, scraped=[URL]))
    evaluator.step(4000, Sample(too_many_clients={TOO_MANY: 6}, scraped=[URL]))

    assert evaluator.totals["too_many_clients"] == 4


def test_totals_count_every_hit_and_request_of_the_run():
    evaluator = Evaluator(LIMITS)
    evaluator.step(0, cache_at(0, 0))
    evaluator.step(60, cache_at(3, 4, stale=1))
    evaluator.step(4000, cache_at(5, 4, stale=1))

    assert evaluator.totals == {"too_many_clients": 0, "cache_hits": 6, "cache_requests": 10}


def test_a_reading_carries_active_connections_and_the_fleets_pool_max():
    reading = Evaluator(LIMITS).step(0, Sample(db_active=12, pool_max=40, scraped=[URL]))
    unknown = Evaluator(LIMITS).step(0, Sample(db_active=None, pool_max=0))

    assert (reading.values["db_active_connections"], reading.pool_max) == (12, 40)
    assert (unknown.values["db_active_connections"], unknown.pool_max) == (None, None)


def test_the_worst_hit_rate_is_the_lowest_and_the_worst_count_the_highest():
    rate, waiting = Trigger("cache_hit_rate"), Trigger("pool_waiting")
    for value in (40.0, 20.0, None, 30.0):
        rate.update(True, value)
    for value in (7, 9, None, 8):
        waiting.update(True, value)

    assert (rate.worst, waiting.worst) == (20.0, 9)
    assert (rate.fired, rate.firing) == (1, True)
    assert rate.update(False, 60.0) == "resolved"
    assert rate.firing is False
