"""Background jobs on RQ: the match orchestrator and the jobs that call it.

Entry points (RQ imports them by name): `orchestrator.update_match`,
`match_minute.tick`, `watchdog.run`, `data_completeness.run`; `cron_config.py`
is the `rq cron` configuration, `worker.JobWorker` the worker class, and
`python -m app.jobs` the operator's run/enqueue/stats commands.
"""
