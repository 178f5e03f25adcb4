"""The `rq cron` configuration: `rq cron app/jobs/cron_config.py --url $REDIS_URL`.

Registers every scheduled job with the cron string and timeout from the
central config (MATCH_MINUTE_CRON, MATCH_WATCHDOG_CRON, DATA_COMPLETENESS_CRON
and their *_TIMEOUT_MS). A bad value stops `rq cron` with one line naming it.
`rq cron` takes no lock: run exactly one per deployment.
"""

from rq import cron

from app import config
from app.jobs.queues import FAILURE_TTL_S, RESULT_TTL_S, job_specs

for spec in job_specs(config.load_or_exit()):
    cron.register(
        spec.func,
        queue_name=spec.queue,
        cron=spec.cron,
        job_timeout=spec.timeout_s,
        result_ttl=RESULT_TTL_S,
        failure_ttl=FAILURE_TTL_S,
        name=spec.name,
    )
