"""The monitor's arithmetic: counter increases, sliding windows, sustained breaches."""

from __future__ import annotations

from checks import thresholds
from checks.monitor.sources import Sample
from checks.monitor.triggers import CounterIncrease, Evaluator, Sustained, Trigger, Window

URL = "http://app-1/metrics"
SERIES = (URL, (("source", "connect"),))


def test_first_scrape_is_the_baseline_and_a_counter_drop_is_a_restart_from_zero():
    counter = CounterIncrease()

    assert counter.step({SERIES: 10}, [URL]) == {}
    assert counter.step({SERIES: 13}, [URL]) == {SERIES: 3}
    assert counter.step({SERIES: 2}, [URL]) == {SERIES: 2}


def test_a_series_born_after_the_first_scrape_counts_from_zero():
    counter = CounterIncrease()
    counter.step({}, [URL])

    assert counter.step({SERIES: 4}, [URL]) == {SERIES: 4}


def test_window_forgets_increases_older_than_its_span():
    window = Window(span_s=3600)
    window.add(0, 2)
    window.add(1800, 2)

    assert window.total(1800) == 4
    assert window.total(3599) == 4
    assert window.total(3600) == 2
    assert window.total(5400) == 0


def test_sustained_needs_the_whole_span_above_the_limit():
    active = Sustained(thresholds.load().monitor.db_active_connections)  # > 45 for 300 s

    assert [active.update(t, 47) for t in (0, 60, 240)] == [False, False, False]
    assert active.update(300, 47) is True
    assert active.update(360, 45) is False, "equal to the limit is not above it"
    assert active.update(420, 50) is False, "a new episode starts its own clock"


def test_three_errors_an_hour_apart_never_fire_but_four_within_the_hour_do():
    limits = thresholds.load().monitor
    spread, bunched = Evaluator(limits), Evaluator(limits)
    spread.step(0, Sample(too_many_clients={SERIES: 0}, scraped=[URL]))
    bunched.step(0, Sample(too_many_clients={SERIES: 0}, scraped=[URL]))

    for hour in range(1, 6):
        reading = spread.step(
            hour * 3600, Sample(too_many_clients={SERIES: 2 * hour}, scraped=[URL])
        )
        assert not reading.breached["max_clients_errors"]
    reading = bunched.step(60, Sample(too_many_clients={SERIES: 4}, scraped=[URL]))
    assert reading.breached["max_clients_errors"]
    assert reading.values["max_clients_errors"] == 4


def test_hit_rate_counts_stale_as_hits_and_needs_enough_requests():
    limits = thresholds.load().monitor
    evaluator = Evaluator(limits)

    def cache(hit, miss, stale):
        values = {
            (URL, (("result", r),)): v for r, v in (("hit", hit), ("miss", miss), ("stale", stale))
        }
        return Sample(cache_requests=values, scraped=[URL])

    evaluator.step(0, cache(0, 0, 0))
    few = evaluator.step(60, cache(1, 9, 0))
    enough = evaluator.step(120, cache(10, 15, 5))

    assert few.values["cache_hit_rate"] is None, "10 requests are below min_requests"
    assert enough.values["cache_hit_rate"] == 50.0, "(10 + 5) of 30"
    assert not enough.breached["cache_hit_rate"], "the trigger is below 50%, not at it"


def test_a_trigger_fires_once_per_episode_and_resolves():
    trigger = Trigger("pool_waiting")

    events = [trigger.update(b, v) for b, v in ((True, 7), (True, 9), (False, 0), (True, 6))]

    assert events == ["fired", None, "resolved", "fired"]
    assert (trigger.fired, trigger.worst) == (2, 9)
