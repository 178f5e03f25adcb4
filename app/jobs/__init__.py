"""Background jobs on RQ: the match orchestrator and the jobs that call it.

Entry points (RQ imports them by name): `orchestrator.update_match`,
`match_minute.tick`, `watchdog.run`, `data_completeness.run`; `python -m app.jobs.cron`
is the fleet's one scheduler (RQ's cron), `python -m app.jobs.wait_for_queue rq worker ...`
starts a worker once the queue Redis answers, `worker.JobWorker` is the worker class, and
`python -m app.jobs` the operator's run/enqueue/stats commands.
"""
