"""`python -m app.jobs`: run, enqueue and stats for operators, with clear exit codes."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import psycopg
import redis
from rq import Queue

from app.infra import keys
from app.infra.names import QUEUE_MAINTENANCE
from app.jobs import match_minute
from tests.jobs.matches import add_long_over_match, match_rows
from tests.support.paths import REPO
from tests.support.processes import module_argv, run_module
from tests.support.servers import free_port
from tests.support.waiting import wait_for


def _jobs_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_module("app.jobs", *args, env={**os.environ, **env}, timeout=60)


def test_run_executes_one_job_now_and_prints_its_summary_as_json(db, make_env):
    with psycopg.connect(db) as conn:
        add_long_over_match(conn)

    done = _jobs_cli("run", "watchdog", "--json", env=make_env(db))

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["updated"] == 1
    assert match_rows(db, "status")["longover01"] == ("finished",)


def test_enqueue_queues_a_run_for_the_workers_and_stats_shows_the_counters(db, make_env, redis_url):
    env = make_env(db)
    done = _jobs_cli("enqueue", "data_completeness", "--json", env=env)
    assert done.returncode == 0, done.stderr
    queued = json.loads(done.stdout)
    assert queued["queue"] == QUEUE_MAINTENANCE
    assert Queue(QUEUE_MAINTENANCE, connection=redis.Redis.from_url(redis_url)).job_ids == [
        queued["id"]
    ]

    assert _jobs_cli("run", "watchdog", env=env).returncode == 0
    counts = json.loads(_jobs_cli("stats", "--json", env=env).stdout)
    assert counts["watchdog"]["runs:succeeded"] == 1


def test_an_unreachable_database_is_exit_1_with_one_line(make_env):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    done = _jobs_cli("run", "match_minute", env=make_env(dead, POOL_TIMEOUT_S="0.5"))
    assert done.returncode == 1
    assert done.stderr.startswith("error: run failed: match_minute: couldn't get a connection")
    assert len(done.stderr.strip().splitlines()) == 1


def test_bad_input_is_exit_2_with_one_line(db, make_env):
    unknown = _jobs_cli("run", "cleanup", env=make_env(db))
    assert unknown.returncode == 2
    assert "invalid choice: 'cleanup'" in unknown.stderr

    bad_setting = _jobs_cli("run", "watchdog", env=make_env(db, JOB_RETRY_MAX="many"))
    assert bad_setting.returncode == 2
    assert bad_setting.stderr.strip() == (
        "config error: invalid JOB_RETRY_MAX='many': must be a whole number from 0 to 20"
    )


def test_ctrl_c_during_a_run_is_one_line_exit_130_and_frees_the_fleet_lock(make_env, redis_url):
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    connection = redis.Redis.from_url(redis_url)
    lock = keys.JOB_LOCK.format(match_minute.JOB)
    run = subprocess.Popen(
        module_argv("app.jobs", "run", match_minute.JOB),
        env={**os.environ, **make_env(dead, POOL_TIMEOUT_S="30")},
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Holding the fleet lock and waiting for a database that never answers.
        wait_for(lambda: connection.exists(lock), 30, "the run to take the fleet lock")
        run.send_signal(signal.SIGINT)
        stderr = run.communicate(timeout=30)[1]
    finally:
        run.kill()
    assert run.returncode == 130
    assert stderr.splitlines() == ["error: interrupted"]
    assert not connection.exists(lock)


def test_no_database_given_is_one_line_and_exit_2_not_a_default_url():
    done = _jobs_cli("run", "watchdog", env={"DATABASE_URL": ""})

    assert done.returncode == 2
    assert done.stderr == "error: no database given: set DATABASE_URL\n"
