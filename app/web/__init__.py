"""The Flask app: `create_app(settings)` builds it, `app.wsgi:app` serves it.

Each app owns one psycopg_pool and one Redis client; gunicorn builds one app
per worker process (after the fork), so each process has exactly one pool.
"""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from app import config, metrics
from app.config import Settings
from app.infra.clock import SYSTEM, Clock
from app.web import errors, health, predictions
from app.web.services import Services, install


def create_app(
    settings: Settings | None = None, *, singleflight: bool = True, clock: Clock = SYSTEM
) -> Flask:
    """Build the app; `singleflight=False` is for the stampede benchmark only, `clock` for
    tests that stand at the cache's TTL instead of sleeping up to it."""
    settings = settings or config.load_or_exit()
    app = Flask(__name__)
    install(app, Services.start(settings, singleflight=singleflight, clock=clock))
    app.register_blueprint(health.bp)
    app.register_blueprint(predictions.bp)
    errors.register(app)
    app.before_request(_start_timer)
    app.after_request(_count_request)
    return app


def close_app(app: Flask) -> None:
    """Close the pool and the Redis client (tests and short-lived tools)."""
    app.extensions["goalgpt"].close()


def _start_timer() -> None:
    g.started = time.perf_counter()


def _count_request(response: Response) -> Response:
    route = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.HTTP_REQUESTS.labels(
        route=route, method=request.method, status=str(response.status_code)
    ).inc()
    started = g.get("started")
    if started is not None:
        metrics.HTTP_DURATION.labels(route=route).observe(time.perf_counter() - started)
    return response
