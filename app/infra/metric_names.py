"""Names of the metrics the service exposes and the checks read: one spelling for both.

The sample names as /metrics shows them (counters with their `_total`);
prometheus_client accepts a counter's name with or without it.
"""

# The web pool and its refusals (app/metrics.py).
DB_POOL_SIZE = "goalgpt_db_pool_size"
DB_POOL_AVAILABLE = "goalgpt_db_pool_available"
DB_POOL_WAITING = "goalgpt_db_pool_waiting"
DB_POOL_MAX = "goalgpt_db_pool_max"
DB_TOO_MANY_CLIENTS_TOTAL = "goalgpt_db_too_many_clients_total"
DB_TOO_MANY_CLIENTS_LAST_HOUR = "goalgpt_db_too_many_clients_last_hour"
CACHE_REQUESTS_TOTAL = "goalgpt_cache_requests_total"

# The jobs' refusals, kept in the queue Redis (app/infra/job_stats.py).
JOB_TOO_MANY_CLIENTS_TOTAL = "goalgpt_job_db_too_many_clients_total"
JOB_TOO_MANY_CLIENTS_LAST_HOUR = "goalgpt_job_db_too_many_clients_last_hour"

# The queue Redis and its queues (app/infra/queue_metrics.py).
QUEUE_REDIS_UP = "goalgpt_queue_redis_up"
QUEUE_REDIS_USED_MEMORY = "goalgpt_queue_redis_used_memory_bytes"
QUEUE_REDIS_MAXMEMORY = "goalgpt_queue_redis_maxmemory_bytes"
QUEUE_REDIS_NOEVICTION = "goalgpt_queue_redis_noeviction"
QUEUE_LENGTH = "goalgpt_queue_length"
QUEUE_OLDEST_AGE = "goalgpt_queue_oldest_job_age_seconds"

# The certificates the servers present (app/infra/tls_expiry.py).
TLS_CERTIFICATE_EXPIRY = "goalgpt_tls_certificate_expiry_timestamp_seconds"

# Who runs the jobs, from RQ's registries in the queue Redis (app/infra/fleet_registry.py).
CRON_LAST_HEARTBEAT = "goalgpt_cron_last_heartbeat_timestamp_seconds"
CRON_HEARTBEAT = "goalgpt_cron_heartbeat_timestamp_seconds"
RQ_WORKERS = "goalgpt_rq_workers"
