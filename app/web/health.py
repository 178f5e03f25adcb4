"""Probes and metrics: /healthz (alive), /readyz (dependencies answer), /metrics."""

from __future__ import annotations

import redis
from flask import Blueprint, Response, jsonify

from app import metrics
from app.db import DatabaseUnavailable
from app.web.services import services

bp = Blueprint("health", __name__)
READY_TIMEOUT_S = 2.0


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    svc = services()
    checks = {"postgres": "ok", "redis": "ok"}
    try:
        svc.db.ping(min(READY_TIMEOUT_S, svc.settings.POOL_TIMEOUT_S))
    except DatabaseUnavailable as exc:
        checks["postgres"] = exc.kind
    try:
        svc.redis.ping()
    except redis.RedisError as exc:
        metrics.REDIS_ERRORS.labels(operation="ping").inc()
        checks["redis"] = type(exc).__name__
    ready = all(value == "ok" for value in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


@bp.get("/metrics")
def metrics_text() -> Response:
    svc = services()
    svc.db.update_gauges()
    body, content_type = metrics.render(svc.extra_collectors)
    return Response(body, content_type=content_type)
