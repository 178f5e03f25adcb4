"""GET /api/predictions/matched: validated parameters, canonical key, shared cache."""

from __future__ import annotations

from flask import Blueprint, Response, request

from app.cache import cache_key
from app.cache.shared import Loader
from app.web.database import Database
from app.web.params import MatchedQuery, parse_matched
from app.web.query import fetch_matched
from app.web.services import services

bp = Blueprint("predictions", __name__)


@bp.get("/api/predictions/matched")
def matched() -> Response:
    query = parse_matched(request.args.items(multi=True))
    svc = services()
    lookup = svc.cache.get(cache_key(query.key_params()), _loader(svc.db, query))
    response = Response(lookup.body, content_type="application/json")
    response.headers["X-Cache"] = lookup.result.upper()
    return response


def _loader(db: Database, query: MatchedQuery) -> Loader:
    # May run in a background refresh thread: it must not need the request context.
    def load(deadline: float) -> bytes:
        with db.connection(deadline) as conn:
            return fetch_matched(conn, query)

    return load
