"""Schema migrations: yoyo SQL files in `sql/`, applied in order.

`python -m app.migrations status|apply` is the operator's CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yoyo import get_backend, read_migrations
from yoyo.backends import DatabaseBackend

SQL_DIR = Path(__file__).parent / "sql"


@dataclass(frozen=True)
class MigrationState:
    id: str
    applied: bool


def yoyo_url(database_url: str) -> str:
    """yoyo names the psycopg 3 driver in the URL scheme."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a postgresql:// URL: {scheme}://...")
    return f"postgresql+psycopg://{rest}"


def _backend(database_url: str) -> DatabaseBackend:
    return get_backend(yoyo_url(database_url))


def status(database_url: str) -> list[MigrationState]:
    """Every known migration, in order, and whether it is applied."""
    backend = _backend(database_url)
    migrations = read_migrations(str(SQL_DIR))
    return [MigrationState(m.id, backend.is_applied(m)) for m in migrations]


def apply(database_url: str) -> list[str]:
    """Apply what is pending; returns the ids applied (empty when up to date)."""
    backend = _backend(database_url)
    migrations = read_migrations(str(SQL_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [m.id for m in pending]
