"""Probes and metrics: /healthz (alive, and which release), /readyz (can serve), /metrics.

/readyz is what a load balancer uses: 200 while the database answers, with
"degraded" and the missing Redis named in the body when a Redis is down
(app/web/dependencies.py says why); 503 only when the database is unreachable.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app import metrics, release
from app.web import dependencies
from app.web.services import services

bp = Blueprint("health", __name__)
# Read once: a process never changes release (a deploy restarts it).
RELEASE = release.identity()


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok", release=RELEASE)


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    states = services().dependency_states()
    status, degraded = dependencies.verdict(states)
    body = jsonify(status=status, checks=states, degraded=degraded)
    return body, 503 if status == "not ready" else 200


@bp.get("/metrics")
def metrics_text() -> Response:
    svc = services()
    svc.db.update_gauges()
    body, content_type = metrics.render(svc.extra_collectors)
    return Response(body, content_type=content_type)
