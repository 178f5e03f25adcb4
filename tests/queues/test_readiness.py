"""A Redis down: the host stays ready (degraded, named); the gates' own check fails naming it."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from app import config
from app.web import close_app, create_app
from tests.support.processes import run_module
from tests.support.queues import CACHE_CONFIG, QUEUE_CONFIG, job_env

URL = "/api/predictions/matched?limit=3"


@pytest.fixture
def servers(start_redis):
    return start_redis(CACHE_CONFIG, "cache-secret"), start_redis(QUEUE_CONFIG, "queue-secret")


def dependency_check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return run_module("checks.dependencies", *args, env={**os.environ, **env}, timeout=60)


def test_cache_redis_down_readyz_200_degraded_api_200_and_the_gate_fails_naming_redis(
    servers, migrated_database_url
):
    cache, queues = servers
    env = job_env(cache, queues, DATABASE_URL=migrated_database_url)
    assert dependency_check(env).returncode == 0
    cache.stop()

    app = create_app(config.load(env))
    try:
        client = app.test_client()
        ready, api = client.get("/readyz"), client.get(URL)
    finally:
        close_app(app)
    gate = dependency_check(env)

    assert ready.status_code == 200
    assert ready.get_json() == {
        "status": "degraded",
        "checks": {"postgres": "ok", "redis": "ConnectionError", "queue_redis": "ok"},
        "degraded": ["redis"],
    }
    assert api.status_code == 200
    assert gate.returncode == 1
    assert gate.stderr.strip() == "error: not every dependency answers: redis"
    lines = gate.stdout.splitlines()
    assert lines[0] == "postgres: ok" and lines[2] == "queue_redis: ok"
    assert lines[1].startswith(f"redis: cannot reach redis://:***@127.0.0.1:{cache.port}/0: ")
    assert "cache-secret" not in gate.stdout + gate.stderr


def test_the_gate_fails_on_an_evicting_queue_redis_and_says_so_in_json(
    start_redis, migrated_database_url
):
    cache = start_redis(CACHE_CONFIG)
    queues = start_redis({"maxmemory-policy": "volatile-lru"})
    done = dependency_check(job_env(cache, queues, DATABASE_URL=migrated_database_url), "--json")

    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["failing"] == ["queue_redis"]
    assert "maxmemory-policy volatile-lru" in report["checks"]["queue_redis"]


def test_database_down_is_not_ready(servers, start_postgres):
    cache, queues = servers
    server = start_postgres()
    env = job_env(cache, queues, DATABASE_URL=server.url(), POOL_TIMEOUT_S="1")
    app = create_app(config.load(env))
    try:
        server.stop()
        ready = app.test_client().get("/readyz")
    finally:
        close_app(app)

    assert ready.status_code == 503
    assert ready.get_json()["status"] == "not ready"
    assert dependency_check(env).returncode == 1


def test_a_bad_setting_is_exit_2_with_one_line():
    done = dependency_check({"RQ_REDIS_URL": "http://nowhere"})
    assert done.returncode == 2
    assert done.stderr.startswith("dependency check failed: invalid RQ_REDIS_URL=")
    assert len(done.stderr.strip().splitlines()) == 1
