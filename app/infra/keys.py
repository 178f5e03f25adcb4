"""Every Redis key the fleet uses, in one namespace (`goalgpt:v1:`).

The cache Redis (REDIS_URL) holds the predictions and their single-flight locks;
the queue Redis (RQ_REDIS_URL) the jobs' locks and stats besides RQ's own keys.
"""

# Cache Redis: one entry per canonical request (app/cache/keys.py adds the hash).
PREDICTIONS = "goalgpt:v1:predictions:matched:"


def flight_lock(key: str) -> str:
    """The single-flight lock of cache entry `key` (one holder loads it)."""
    return f"{key}:lock"


def flight_done(key: str) -> str:
    """The channel on which the holder of `key`'s lock says it stored or failed."""
    return f"{key}:done"


# Queue Redis.
MATCH_LOCK = "goalgpt:v1:lock:match:{}"  # per-match orchestrator lock
JOB_LOCK = "goalgpt:v1:lock:job:{}"  # fleet-wide "this job is running" lock
JOB_STATS = "goalgpt:v1:jobs:stats:{}"  # hash of counters per job
JOB_NAMES = "goalgpt:v1:jobs:names"  # set of jobs that have recorded stats
DB_REFUSALS = "goalgpt:v1:jobs:db_refusals"  # hash: refusals for lack of slots, by source
DB_REFUSALS_RECENT = "goalgpt:v1:jobs:db_refusals:recent"  # sorted set: refusal times
