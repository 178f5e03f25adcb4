"""Read one sample: each URL's Prometheus metrics, active connections from PostgreSQL,
the clients waiting in each PgBouncer (SHOW POOLS), added to the app pools' waiters."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import psycopg
from prometheus_client.parser import text_string_to_metric_families

from app.infra import metric_names as names
from app.infra.errors import connect_reason
from checks import pgbouncer
from checks.dbconnect import (
    CheckError,
    NoFreeSlots,
    connect,
    require_stats_visibility,
)

TOO_MANY_CLIENTS = names.DB_TOO_MANY_CLIENTS_TOTAL
# The jobs' refusals, kept in Redis: every app host exposes the same fleet-wide value.
JOB_TOO_MANY_CLIENTS = names.JOB_TOO_MANY_CLIENTS_TOTAL
JOBS_SERIES_URL = "(jobs, fleet-wide)"
CACHE_REQUESTS = names.CACHE_REQUESTS_TOTAL
POOL_WAITING = names.DB_POOL_WAITING
POOL_MAX = names.DB_POOL_MAX
# checks/pgbouncer_exporter.py's cl_waiting, as Prometheus holds it (the --prometheus-url runs).
BOUNCER_WAITING = "pgbouncer_pools_client_waiting_connections"

ACTIVE_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE backend_type = 'client backend' AND state = 'active' AND pid <> pg_backend_pid()
"""

# (url, sorted label pairs) identifies one counter series across samples.
SeriesKey = tuple[str, tuple[tuple[str, str], ...]]


class SourceError(Exception):
    """One source could not be read this time; the message is one line."""


@dataclass
class Sample:
    """What the sources said at one moment; None where a source could not be read."""

    too_many_clients: dict[SeriesKey, float] = field(default_factory=dict)
    cache_requests: dict[SeriesKey, float] = field(default_factory=dict)  # label result kept
    pool_waiting: float | None = None
    pool_max: float | None = None
    db_active: int | None = None
    scraped: list[str] = field(default_factory=list)  # URLs read successfully
    bouncers: list[str] = field(default_factory=list)  # PgBouncer sources read successfully
    errors: list[str] = field(default_factory=list)

    @property
    def read_anything(self) -> bool:
        return bool(self.scraped or self.bouncers) or self.db_active is not None

    def add_waiting(self, waiting: float) -> None:
        self.pool_waiting = (self.pool_waiting or 0) + waiting


def scrape(url: str, timeout_s: float) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of the Prometheus text at `url` as (name, labels, value)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            body = response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        raise SourceError(f"cannot scrape {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"cannot scrape {url}: {reason}") from None
    try:
        return [
            (s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(body)
            for s in family.samples
        ]
    except ValueError as exc:
        raise SourceError(f"{url} is not Prometheus text: {exc}") from None


def add_metrics(sample: Sample, url: str, metrics: Iterable[tuple[str, dict, float]]) -> None:
    waiting = pool_max = 0.0
    for name, labels, value in metrics:
        key = (url, tuple(sorted(labels.items())))
        if name == TOO_MANY_CLIENTS:
            sample.too_many_clients[key] = value
        elif name == JOB_TOO_MANY_CLIENTS:
            key = (JOBS_SERIES_URL, key[1])
            sample.too_many_clients[key] = max(value, sample.too_many_clients.get(key, 0.0))
        elif name == CACHE_REQUESTS:
            sample.cache_requests[key] = value
        elif name in (POOL_WAITING, BOUNCER_WAITING):
            waiting += value
        elif name == POOL_MAX:
            pool_max += value
    sample.add_waiting(waiting)
    sample.pool_max = (sample.pool_max or 0) + pool_max
    sample.scraped.append(url)


class Database:
    """Active client connections, over one connection kept between samples."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.conn: psycopg.Connection | None = None

    def check_grant(self) -> None:
        """Raise MissingGrant for a role that cannot see other sessions."""
        try:
            require_stats_visibility(self._connection())
        except psycopg.Error as exc:
            self.close()
            raise CheckError(f"cannot check the role's grants: {connect_reason(exc)}") from None

    def active(self) -> int:
        try:
            return self._connection().execute(ACTIVE_SQL).fetchone()[0]
        except NoFreeSlots as exc:
            raise SourceError(f"PostgreSQL refused the monitor: {exc}") from None
        except CheckError as exc:
            raise SourceError(str(exc)) from None
        except psycopg.Error as exc:
            self.close()
            raise SourceError(f"cannot read pg_stat_activity: {connect_reason(exc)}") from None

    def _connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed:
            self.conn = connect(self.dsn)
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def read(
    urls: list[str], db: Database | None, timeout_s: float, bouncers: Sequence[str] = ()
) -> Sample:
    sample = Sample()
    for url in urls:
        try:
            add_metrics(sample, url, scrape(url, timeout_s))
        except SourceError as exc:
            sample.errors.append(str(exc))
    for dsn in bouncers:
        try:
            sample.add_waiting(pgbouncer.read(dsn).client_waiting)
            sample.bouncers.append(pgbouncer.source(dsn))
        except CheckError as exc:
            sample.errors.append(str(exc))
    if db is not None:
        try:
            sample.db_active = db.active()
        except SourceError as exc:
            sample.errors.append(str(exc))
    return sample
