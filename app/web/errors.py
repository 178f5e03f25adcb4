"""JSON answers for failures: 400 names the parameter, 503 says when to retry."""

from __future__ import annotations

import logging
import math

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from app.cache import HolderFailed, SingleFlightTimeout
from app.infra.errors import DatabaseUnavailable
from app.web.params import InvalidParameter
from app.web.services import services

log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    app.register_error_handler(InvalidParameter, _invalid_parameter)
    app.register_error_handler(DatabaseUnavailable, _database_unavailable)
    app.register_error_handler(SingleFlightTimeout, _shared_failure)
    app.register_error_handler(HolderFailed, _shared_failure)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _internal_error)


def _invalid_parameter(exc: InvalidParameter) -> tuple[Response, int]:
    body = jsonify(
        error="invalid_parameter", parameter=exc.parameter, allowed=exc.allowed, message=str(exc)
    )
    return body, 400


def _unavailable(reason: str) -> tuple[Response, int]:
    response = jsonify(error="service_unavailable", reason=reason)
    # Retry once a pooled connection could have freed up.
    response.headers["Retry-After"] = str(max(1, math.ceil(services().settings.POOL_TIMEOUT_S)))
    return response, 503


def _database_unavailable(exc: DatabaseUnavailable) -> tuple[Response, int]:
    return _unavailable(f"database: {exc.kind}")


def _shared_failure(exc: Exception) -> tuple[Response, int]:
    reason = "timeout" if isinstance(exc, SingleFlightTimeout) else "failed"
    return _unavailable(f"shared load {reason}")


def _http_error(exc: HTTPException) -> tuple[Response, int]:
    return jsonify(error=exc.name.lower().replace(" ", "_"), message=exc.description), exc.code


def _internal_error(exc: Exception) -> tuple[Response, int]:
    log.exception("unhandled error: %s", exc)
    return jsonify(error="internal_error"), 500
