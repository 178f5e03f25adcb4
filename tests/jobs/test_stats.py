"""Job stats in Redis add up across processes and come out as Prometheus metrics."""

from __future__ import annotations

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.infra import job_stats as stats
from app.infra import keys
from tests.support.servers import free_port


def _samples(client: redis.Redis) -> dict[tuple, float]:
    registry = CollectorRegistry()
    registry.register(stats.JobStatsCollector(client))
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_runs_from_several_workers_add_up_in_the_exported_metrics(redis_url):
    # Two clients stand for two worker hosts writing to the same Redis.
    host_a, host_b = redis.Redis.from_url(redis_url), redis.Redis.from_url(redis_url)
    succeeded = [
        (host_a, 0.3, {"updated": 50, "skipped": 2, "rejected": 1, "failed": 0}),
        (host_b, 7.0, {"updated": 10, "skipped": 0, "rejected": 0, "failed": 1}),
    ]
    for host, duration_s, matches in succeeded:
        stats.record_run(host, "match_minute", "succeeded", duration_s=duration_s, matches=matches)
    stats.record_run(host_b, "match_minute", "skipped")
    stats.record_run(host_a, "watchdog", "failed", duration_s=1.5)

    samples = _samples(host_a)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("goalgpt_job_stats_up") == 1
    assert value("goalgpt_job_runs_total", job="match_minute", outcome="succeeded") == 2
    assert value("goalgpt_job_runs_total", job="match_minute", outcome="skipped") == 1
    assert value("goalgpt_job_runs_total", job="watchdog", outcome="failed") == 1
    assert value("goalgpt_job_matches_total", job="match_minute", result="updated") == 60
    assert value("goalgpt_job_matches_total", job="match_minute", result="rejected") == 1
    assert value("goalgpt_job_matches_total", job="match_minute", result="failed") == 1
    assert value("goalgpt_job_duration_seconds_count", job="match_minute") == 2
    assert value("goalgpt_job_duration_seconds_sum", job="match_minute") == 7.3
    assert value("goalgpt_job_duration_seconds_bucket", job="match_minute", le="0.5") == 1
    assert value("goalgpt_job_duration_seconds_bucket", job="match_minute", le="10.0") == 2
    assert value("goalgpt_job_running", job="match_minute") == 0
    assert value("goalgpt_job_last_success_timestamp_seconds", job="match_minute") > 0
    assert ("goalgpt_job_last_success_timestamp_seconds", (("job", "watchdog"),)) not in samples


def test_a_held_fleet_lock_shows_the_job_as_running(redis_url):
    client = redis.Redis.from_url(redis_url)
    stats.record_run(client, "watchdog", "succeeded", duration_s=1.0)
    client.set(keys.JOB_LOCK.format("watchdog"), "token", ex=30)
    assert _samples(client)[("goalgpt_job_running", (("job", "watchdog"),))] == 1


def test_unreadable_stats_are_reported_as_down_instead_of_failing_the_scrape():
    client = redis.Redis(port=free_port(), retry=Retry(NoBackoff(), 0))
    assert _samples(client) == {("goalgpt_job_stats_up", ()): 0}
