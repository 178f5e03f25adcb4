"""pgBackRest's repository as operators and Prometheus see it, on the backup host.

Standard library only: the role copies this package to the backup host and runs it
with the system python3 (`info` reads the repository, `exporter` serves it to
Prometheus, `schedule` takes the backups where there are no systemd timers).
"""
