"""The pool-health monitor: its four triggers, sampled from /metrics and PostgreSQL.

`python -m checks.monitor` (`__main__`: the options) runs one of three ways: live
(`live`), over Prometheus's history (`look_back`), or an earlier run redrawn
(`redraw`). They read the sources (`sources`, or Prometheus's current values:
`current`; its history: `history`), turn counters into windowed increases and apply
the triggers (`triggers`), print alerts and the final summary (`output`, `report`),
and draw `--report`'s page (`drawing`). Exit 0 nothing fired, 1 a trigger fired, 2
could not monitor.
"""
