"""The `rq cron` configuration: `rq cron app/jobs/cron_config.py` (RQ_REDIS_URL names the Redis).

Registers every scheduled job with the cron string and timeout from the
central config (MATCH_MINUTE_CRON, MATCH_WATCHDOG_CRON, DATA_COMPLETENESS_CRON
and their *_TIMEOUT_MS). A bad value stops `rq cron` with one line naming it,
and so does a queue Redis that may evict jobs (queue_redis.check).
`rq cron` takes no lock: run exactly one per deployment.
"""

from rq import cron

from app import config
from app.infra import queue_redis
from app.jobs.queues import FAILURE_TTL_S, RESULT_TTL_S, job_specs

_settings = config.load_or_exit()
with queue_redis.connect(_settings) as _client:
    queue_redis.check_or_exit(_client, "rq cron", _settings.RQ_REDIS_URL)

for spec in job_specs(_settings):
    cron.register(
        spec.func,
        queue_name=spec.queue,
        cron=spec.cron,
        job_timeout=spec.timeout_s,
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
        name=spec.name,
    )
