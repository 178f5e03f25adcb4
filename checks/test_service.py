"""The app answers: alive, ready, and the predictions endpoint serves and caches."""

from __future__ import annotations

import json
import time

from checks.smoke import answered, fail, get, short

PREDICTIONS = "/api/predictions/matched"


def test_app_is_alive(base_url):
    answer = get(f"{base_url}/healthz")
    if answer.status != 200:
        fail(f"{base_url}/healthz answered {answered(answer)}")


def test_app_is_ready_database_and_redis_reachable(base_url):
    answer = get(f"{base_url}/readyz")
    if answer.status != 200:
        fail(
            f"{base_url}/readyz answered {answer.status} - the app cannot reach "
            f"{_failing_dependencies(answer.body)}"
        )
    # 200 and "degraded": it serves (a load balancer keeps it), but a deploy is not done.
    if _status(answer.body) != "ready":
        fail(
            f"{base_url}/readyz says {_status(answer.body)} - the app serves without "
            f"{_failing_dependencies(answer.body)}"
        )


def _status(body: str) -> str:
    try:
        return str(json.loads(body)["status"])
    except (ValueError, KeyError, TypeError):
        return f"something unexpected: {short(body)}"


def test_predictions_endpoint_serves_json_then_a_cache_hit(base_url):
    url = f"{base_url}{PREDICTIONS}"
    first = _get_retrying(url)
    if first.status != 200:
        fail(f"GET {PREDICTIONS} answered {answered(first)}")
    try:
        json.loads(first.body)
    except ValueError:
        fail(f"GET {PREDICTIONS} did not return JSON: {short(first.body)}")
    repeat = get(url)
    cache = repeat.headers.get("x-cache", "(no X-Cache header)")
    # STALE is served from the cache too: a key 30-60 s old answers STALE while one
    # refresh runs, so a gate run at that moment must not fail the deploy.
    if repeat.status != 200 or cache.upper() not in ("HIT", "STALE"):
        fail(
            f"the repeated GET {PREDICTIONS} was not served from the cache "
            f"(status {repeat.status}, X-Cache: {cache}); is Redis reachable? see /readyz"
        )


def _failing_dependencies(body: str) -> str:
    """'redis (ConnectionError)' from {"checks": {"postgres": "ok", "redis": "ConnectionError"}}."""
    try:
        checks = json.loads(body)["checks"]
        failing = [f"{name} ({state})" for name, state in checks.items() if state != "ok"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"a dependency: {short(body)}"
    return " and ".join(failing) or f"a dependency: {short(body)}"


def _get_retrying(url: str, attempts: int = 3):
    """The first request may meet a cold pool right after a deploy; retry briefly."""
    for attempt in range(attempts):
        answer = get(url)
        if answer.status < 500 or attempt == attempts - 1:
            return answer
        time.sleep(1)
    raise AssertionError("unreachable")
