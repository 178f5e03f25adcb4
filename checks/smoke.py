"""Helpers of the smoke gate (`pytest checks/`): where the deployment is, and plain HTTP.

The target comes from the environment, so the gate runs anywhere:
GOALGPT_BASE_URL (one app host, or several separated by commas; default
http://127.0.0.1:8000), DATABASE_URL (migration state), GOALGPT_MONITOR_DSN
(the capacity probe's pg_monitor role; default DATABASE_URL) and
GOALGPT_THRESHOLDS (default checks/thresholds.yml). The app's own bounds,
POOL_TIMEOUT_S and SINGLEFLIGHT_TIMEOUT_S (the service environment's, else the
app's defaults), set how long the gate waits for an answer: longer than the app
takes to answer 503 itself, so its answer, not the gate's timeout, is what the
gate reports.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import NoReturn

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import config

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Beyond the app's own bounds: time to send its answer on a loaded host.
MARGIN_S = 5.0


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str


def base_urls() -> list[str]:
    raw = os.environ.get("GOALGPT_BASE_URL") or DEFAULT_BASE_URL
    return [url.strip().rstrip("/") for url in raw.split(",") if url.strip()]


def timeout_s() -> float:
    """Longer than the app can take: waiting behind another request's load
    (SINGLEFLIGHT_TIMEOUT_S), then for a pooled connection (POOL_TIMEOUT_S), plus MARGIN_S."""
    return _app_bound("POOL_TIMEOUT_S") + _app_bound("SINGLEFLIGHT_TIMEOUT_S") + MARGIN_S


def _app_bound(name: str) -> float:
    """`name` from the environment (as the app reads it, in its range), else the default."""
    text = os.environ.get(name)
    if not text:
        return float(config.Settings.model_fields[name].default)
    bounds = config.bounds(name)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > bounds["gt"] and value <= bounds["le"]):
        fail(
            f"invalid {name}={text!r}: the app accepts more than {bounds['gt']:g} "
            f"and at most {bounds['le']:g} seconds"
        )
    return value


def get(url: str) -> Response:
    """GET `url`; an HTTP error status is a response, no answer at all fails the gate."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s()) as answer:
            return Response(answer.status, _headers(answer), answer.read().decode())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, _headers(exc), exc.read().decode(errors="replace"))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
    fail(
        f"{url} did not answer ({reason}). Is the app running there? "
        "Set GOALGPT_BASE_URL to the deployment's address."
    )
    raise AssertionError("unreachable")


def answered(answer: Response) -> str:
    """The status and, for the app's JSON errors, why: '503 (database: pool_timeout; retry
    after 5 s)'."""
    try:
        body = json.loads(answer.body)
        why = body.get("reason") or body.get("message") or body["error"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"{answer.status}: {short(answer.body)}"
    retry = answer.headers.get("retry-after")
    return f"{answer.status} ({why}{f'; retry after {retry} s' if retry else ''})"


def _headers(answer) -> dict[str, str]:
    return {k.lower(): v for k, v in answer.headers.items()}


def fail(message: str) -> NoReturn:
    """Fail the check with the operator's message only (no Python traceback).

    Call it outside `except` blocks, or pytest also prints the exception chain.
    """
    pytest.fail(message, pytrace=False)


def short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def scrape(base_url: str) -> dict[str, list[tuple[dict, float]]]:
    """Every sample of `base_url`/metrics as {name: [(labels, value)]}; fails the check
    when there is no Prometheus text."""
    answer = get(f"{base_url}/metrics")
    if answer.status != 200:
        fail(f"{base_url}/metrics answered {answer.status}: {short(answer.body)}")
    found: dict[str, list[tuple[dict, float]]] = {}
    try:
        for family in text_string_to_metric_families(answer.body):
            for sample in family.samples:
                found.setdefault(sample.name, []).append((sample.labels, sample.value))
    except ValueError as exc:
        error = f"{base_url}/metrics is not Prometheus text: {exc}"
    else:
        return found
    fail(error)


def total(found: dict, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for got, value in found.get(name, [])
        if all(got.get(k) == v for k, v in labels.items())
    )
