"""The one pool factory of the fleet (web and jobs): `new_pool`.

`new_pool` builds every pool of the fleet: named by application, each refused
connect reported to the caller's counter, opened in the background, and fit to
go through a transaction pooler (PgBouncer): no prepared statements, no session
state (every setting a pooled connection makes is local to its transaction).
The web's pool with its gauges is `app.web.database.Database`; the jobs' is
built in `app.jobs.context`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg_pool import ConnectionPool

from app.config import Settings
from app.infra.refusal import counting_connection


def new_pool(
    settings: Settings,
    application_name: str,
    max_size: int,
    on_refusal: Callable[[], None],
    **options: Any,
) -> ConnectionPool:
    """A closed pool of DATABASE_URL; `on_refusal` is called for each connect refused for
    lack of slots. `options`: more ConnectionPool arguments (min_size, kwargs, configure...)."""
    # prepare_threshold=None: no server-side prepared statements, which a transaction
    # pooler (PgBouncer 1.18) cannot follow from one server connection to the next.
    kwargs = {
        "application_name": application_name,
        "prepare_threshold": None,
        **options.pop("kwargs", {}),
    }
    return ConnectionPool(
        settings.DATABASE_URL,
        connection_class=counting_connection(on_refusal),
        kwargs=kwargs,
        max_size=max_size,
        timeout=settings.POOL_TIMEOUT_S,
        name=application_name,
        open=False,
        **options,
    )
