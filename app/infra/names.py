"""Names the fleet agrees on: who connects to PostgreSQL, which RQ queues exist.

Standard library only (nothing at all): the controller reads the queues through
app/jobs/worker_command.py without the app's dependencies.
"""

# PostgreSQL application_name of each kind of process: the probe, the monitor and
# pg_stat_activity queries tell the pools apart by it.
WEB = "goalgpt-web"
WORKER = "goalgpt-worker"
MIGRATE = "goalgpt-migrate"
CHECKS = "goalgpt-checks"
POOL_APPS = (WEB, WORKER)  # the processes whose pools the capacity probe sizes

QUEUE_LIVE = "goalgpt-live"  # the tick and single match updates: small, time-critical
QUEUE_MAINTENANCE = "goalgpt-maintenance"  # watchdog and validator: slower scans
QUEUES = (QUEUE_LIVE, QUEUE_MAINTENANCE)  # most urgent first
