"""What the web app, the jobs and the checks share: the database, Redis and the fleet's names.

- `names`: application names, queues and other names the fleet agrees on;
- `errors`: what a database failure means (`DatabaseUnavailable`, `classify`) and
  the one line of an error an operator reads (`first_line`);
- `refusal`: the classifier of "no connection slot left";
- `database`: the one pool factory (`new_pool`);
- `redis_client`: the one Redis client factory; `queue_redis`: the queue Redis's policy;
- `keys`: every Redis key name; `lock`: the one Redis lock;
- `job_stats`, `queue_metrics`: what the workers record in the queue Redis and
  /metrics reads back; `scrape`: the gauge in front of them that says Redis answered.

`app.web`, `app.jobs` and `checks` import this layer and never each other; it
imports none of them (the layers contract, `[tool.importlinter]` in pyproject.toml,
checked by `make lint`; docs/architecture.md#layers).
"""
