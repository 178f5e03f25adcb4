"""The queue Redis never evicts jobs, the queues keep up and exactly one rq cron runs:
/metrics against thresholds.yml.

The app exports what it reads from the queue Redis (RQ_REDIS_URL), so the gate
needs no Redis password: goalgpt_queue_redis_* and goalgpt_queue_* (app/infra/queue_metrics.py),
goalgpt_cron_* (app/infra/fleet_registry.py).
"""

from __future__ import annotations

import time

from app.infra import metric_names as names
from checks.smoke import fail, scrape, total


def _queue_metrics(base_url: str) -> dict:
    found = scrape(base_url)
    if total(found, names.QUEUE_REDIS_UP) != 1:
        fail(
            f"the app at {base_url} cannot read the queue Redis "
            "(goalgpt_queue_redis_up is not 1); see /readyz"
        )
    return found


def test_queue_redis_never_evicts_jobs(base_url):
    found = _queue_metrics(base_url)
    if total(found, names.QUEUE_REDIS_NOEVICTION) != 1:
        fail(
            f"the queue Redis behind {base_url} may evict jobs: its maxmemory-policy is not "
            "noeviction. Set maxmemory-policy noeviction on it (the redis role's queue instance)"
        )


def test_queue_redis_memory_is_within_thresholds(base_url, limits):
    found = _queue_metrics(base_url)
    t = limits.queues.queue_redis_memory
    used = total(found, names.QUEUE_REDIS_USED_MEMORY)
    maximum = total(found, names.QUEUE_REDIS_MAXMEMORY)
    if maximum <= 0:
        fail(
            f"the queue Redis behind {base_url} has no maxmemory, so nothing warns before it "
            "takes the host's memory; set one (redis_queue_maxmemory)"
        )
    if 100 * used / maximum > t.trigger_above_pct:
        fail(
            f"the queue Redis behind {base_url} uses {100 * used / maximum:.0f}% of its "
            f"maxmemory (trigger: >{t.trigger_above_pct:g}%; at 100% new jobs are refused). "
            f"{t.action}"
        )


def test_queues_keep_up_within_thresholds(base_url, limits):
    found = _queue_metrics(base_url)
    length, age = limits.queues.queue_length, limits.queues.oldest_job_age
    late = []
    for labels, value in found.get(names.QUEUE_LENGTH, []):
        if value > length.trigger_above:
            late.append(
                f"{labels['queue']} holds {value:g} jobs (trigger: >{length.trigger_above})"
            )
    for labels, value in found.get(names.QUEUE_OLDEST_AGE, []):
        if value > age.trigger_above_s:
            late.append(
                f"{labels['queue']}'s oldest job waits {value:.0f}s "
                f"(trigger: >{age.trigger_above_s:g}s)"
            )
    if late:
        fail(f"queues behind {base_url} fall behind: {'; '.join(late)}. {length.action}")


def test_exactly_one_rq_cron_runs_in_the_fleet(base_url, limits):
    found = _queue_metrics(base_url)
    limit = limits.dependencies.scheduler.trigger_above_s
    beats = {labels["scheduler"]: value for labels, value in found.get(names.CRON_HEARTBEAT, [])}
    now = time.time()
    running = sorted(name for name, beat in beats.items() if now - beat <= limit)
    if not running:
        newest = max(beats.values(), default=0.0)
        age = f"its last heartbeat is {now - newest:.0f}s old" if newest else "none registered"
        fail(
            f"no rq cron runs in the fleet ({age}; trigger: >{limit:g}s, seen from {base_url}): "
            "no scheduled job is queued. Start goalgpt-cron on the cron host (the first "
            "worker host): docs/runbooks/rq-cron-missing.md"
        )
    if len(running) > 1:
        fail(
            f"{len(running)} rq cron run in the fleet ({', '.join(running)}): each scheduled "
            "job is queued that many times. Stop all but the cron host's: "
            "docs/runbooks/rq-cron-missing.md"
        )
