"""Every Redis key the jobs use, in one namespace (`goalgpt:v1:`)."""

MATCH_LOCK = "goalgpt:v1:lock:match:{}"  # per-match orchestrator lock
JOB_LOCK = "goalgpt:v1:lock:job:{}"  # fleet-wide "this job is running" lock
JOB_STATS = "goalgpt:v1:jobs:stats:{}"  # hash of counters per job
JOB_NAMES = "goalgpt:v1:jobs:names"  # set of jobs that have recorded stats
DB_REFUSALS = "goalgpt:v1:jobs:db_refusals"  # hash: refusals for lack of slots, by source
