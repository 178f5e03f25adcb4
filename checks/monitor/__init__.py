"""The pool-health monitor: the seed's four triggers, sampled from /metrics and PostgreSQL.

`python -m checks.monitor`; read the sources (`sources`, or Prometheus's current
values: `current`; its history: `history`), turn counters into
windowed increases and apply the triggers (`triggers`), print alerts and the
final summary (`report`). Exit 0 nothing fired, 1 a trigger fired, 2 could not
monitor.
"""
