"""The settings: each variable's type, default, range, help and section.

One declaration per setting (`setting(...)`); the loader, the summary and
docs/configuration.md all read their facts from here.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

from croniter import croniter
from pydantic import Field, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

# Sections of the summary (the original service's JOB_CONFIG groups), in field order.
APP = "APP"
CACHE = "PREDICTIONS_CACHE"
WEB = "WEB"
MATCH_MINUTE = "MATCH_MINUTE"
WATCHDOG = "MATCH_WATCHDOG"
COMPLETENESS = "DATA_COMPLETENESS"
ORCHESTRATOR = "ORCHESTRATOR"
JOBS = "JOBS"
MIGRATIONS = "MIGRATIONS"


def setting(section: str, default: Any, help: str, accepts: str = "", **bounds: float) -> Any:
    """A setting: its default, range (ge/gt/le, or `accepts` in words), help and section."""
    extra = {"section": section, "accepts": accepts}
    return Field(default, description=help, json_schema_extra=extra, **bounds)


class Settings(BaseSettings):
    """Every setting with its metadata: the summary and docs/configuration.md come from here."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    DATABASE_URL: str = setting(
        APP,
        "postgresql://goalgpt@127.0.0.1:5432/goalgpt",
        "the database",
        accepts="postgresql:// URL",
    )
    DATABASE_SERVER_URL: str = setting(
        APP,
        "",
        "PostgreSQL itself when DATABASE_URL names PgBouncer: only the end of its "
        "certificate is read (a TLS handshake, no login); empty: DATABASE_URL's server",
        accepts="empty or a postgresql:// URL with sslmode=verify-*",
    )
    # Two Redis servers: the cache and its short-lived locks (allkeys-lru, no persistence),
    # and the RQ queues with the jobs' locks and stats (noeviction, appendonly).
    REDIS_URL: str = setting(
        APP,
        "redis://127.0.0.1:6379/0",
        "the cache and its single-flight locks (may evict)",
        accepts="redis:// URL",
    )
    RQ_REDIS_URL: str = setting(
        APP,
        "redis://127.0.0.1:6380/0",
        "RQ's queues, the jobs' locks and stats: must be `noeviction`",
        accepts="redis:// URL",
    )
    DB_MAX_CONNECTIONS: int = setting(
        APP,
        50,
        "the per-process pool max: connections one web process may hold, not PostgreSQL's "
        "`max_connections` (raise_pool.yml changes it)",
        ge=1,
        le=500,
    )
    POOL_TIMEOUT_S: float = setting(
        APP,
        5.0,
        "wait for a pooled connection before 503",
        gt=0,
        le=120,
    )

    PREDICTIONS_CACHE_TTL_S: int = setting(
        CACHE,
        30,
        "fresh lifetime of a cached response",
        ge=1,
        le=3600,
    )
    PREDICTIONS_CACHE_STALE_S: int = setting(
        CACHE,
        30,
        "serve stale while one refresh runs; 0 = off",
        ge=0,
        le=3600,
    )
    SINGLEFLIGHT_TIMEOUT_S: float = setting(
        CACHE,
        10.0,
        "longest wait behind another computation",
        gt=0,
        le=120,
    )
    PREDICTIONS_LOCAL_CACHE_ENTRIES: int = setting(
        CACHE,
        256,
        "fresh entries each worker also keeps in memory until they expire (LRU); 0 = off",
        ge=0,
        le=100_000,
    )
    # Each refresh holds a database connection (a web process holds at most
    # GUNICORN_THREADS + this many).
    PREDICTIONS_MAX_REFRESHES: int = setting(
        CACHE,
        2,
        "background refreshes of stale keys one web process runs at once (each holds a "
        "connection; a stale key finding them busy stays stale)",
        ge=0,
        le=64,
    )
    REDIS_SOCKET_TIMEOUT_S: float = setting(
        CACHE,
        0.5,
        "connect/read timeout of the web app's Redis calls",
        gt=0,
        le=30,
    )

    GUNICORN_BIND: str = setting(
        WEB,
        "127.0.0.1:8000",
        "where gunicorn listens",
        accepts="`HOST:PORT` or `unix:/path`",
    )
    GUNICORN_WORKERS: int = setting(WEB, 2, "gunicorn worker processes", ge=1, le=64)
    GUNICORN_THREADS: int = setting(
        WEB,
        4,
        "threads per worker (gthread); each holds at most one connection",
        ge=1,
        le=256,
    )

    MATCH_MINUTE_TIMEOUT_MS: int = setting(
        MATCH_MINUTE,
        120_000,
        "match-minute job timeout",
        ge=1_000,
        le=3_600_000,
    )
    MATCH_MINUTE_BATCH_SIZE: int = setting(
        MATCH_MINUTE,
        100,
        "matches read per tick",
        ge=1,
        le=10_000,
    )
    MAX_UPDATES_PER_TICK: int = setting(
        MATCH_MINUTE,
        50,
        "cap on updates per tick (warns above 100)",
        ge=1,
        le=10_000,
    )
    MATCH_MINUTE_CRON: str = setting(
        MATCH_MINUTE,
        "* * * * *",
        "when the match-minute tick runs",
        accepts="cron",
    )
    MATCH_WATCHDOG_TIMEOUT_MS: int = setting(
        WATCHDOG,
        300_000,
        "watchdog job timeout",
        ge=1_000,
        le=3_600_000,
    )
    MATCH_WATCHDOG_CRON: str = setting(
        WATCHDOG,
        "*/5 * * * *",
        "when the watchdog runs",
        accepts="cron",
    )
    DATA_COMPLETENESS_TIMEOUT_MS: int = setting(
        COMPLETENESS,
        300_000,
        "validator job timeout",
        ge=1_000,
        le=3_600_000,
    )
    DATA_COMPLETENESS_CRON: str = setting(
        COMPLETENESS,
        "*/10 * * * *",
        "when the data-completeness validator runs",
        accepts="cron",
    )
    ORCHESTRATOR_LOCK_TIMEOUT_MS: int = setting(
        ORCHESTRATOR,
        10_000,
        "per-match lock expiry",
        ge=100,
        le=600_000,
    )
    ORCHESTRATOR_MAX_RETRIES: int = setting(
        ORCHESTRATOR,
        3,
        "retries of a locked or failed update",
        ge=0,
        le=20,
    )

    JOB_LOCK_LEASE_S: int = setting(
        JOBS,
        30,
        "lease of a job's fleet-wide lock, renewed while it runs; how long a killed run "
        "blocks the next",
        ge=1,
        le=600,
    )
    JOB_RETRY_MAX: int = setting(
        JOBS,
        3,
        "RQ retries of a job run that found the database unreachable",
        ge=0,
        le=20,
    )
    # Its own setting: a worker never uses DB_MAX_CONNECTIONS, the web pool's size.
    JOB_DB_MAX_CONNECTIONS: int = setting(
        JOBS,
        2,
        "pool max of each job (one job at a time per rq worker); workers never use "
        "`DB_MAX_CONNECTIONS`",
        ge=1,
        le=20,
    )
    JOB_RETRY_INTERVAL_S: int = setting(
        JOBS,
        10,
        "delay before the first such retry, doubled for each next one",
        ge=0,
        le=600,
    )
    WORKER_HEARTBEAT_GRACE_S: int = setting(
        JOBS,
        15,
        "how long after its last heartbeat a running job counts as abandoned (RQ's own: 60)",
        ge=1,
        le=600,
    )
    WATCHDOG_STALE_AFTER_S: int = setting(
        JOBS,
        600,
        "a live match not updated for this long is checked by the watchdog",
        ge=60,
        le=86_400,
    )
    WATCHDOG_FULL_TIME_AFTER_MIN: int = setting(
        JOBS,
        150,
        "minutes after kickoff when the watchdog finishes a live match",
        ge=100,
        le=1440,
    )
    DATA_COMPLETENESS_BATCH_SIZE: int = setting(
        JOBS,
        500,
        "matches the validator corrects per run",
        ge=1,
        le=10_000,
    )
    MIGRATION_LOCK_TIMEOUT_MS: int = setting(
        MIGRATIONS,
        2_000,
        "longest wait of a migration's ALTER for its table lock (writers queue behind it "
        "meanwhile)",
        ge=10,
        le=60_000,
    )
    MIGRATION_LOCK_RETRIES: int = setting(
        MIGRATIONS,
        5,
        "retries of an ALTER that timed out, after 1, 2, 3... times the lock timeout",
        ge=0,
        le=50,
    )

    @field_validator("MATCH_MINUTE_CRON", "MATCH_WATCHDOG_CRON", "DATA_COMPLETENESS_CRON")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError("a five-field cron expression such as '*/5 * * * *'")
        return value

    @field_validator("DATABASE_URL", "DATABASE_SERVER_URL")
    @classmethod
    def _postgres_url(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "DATABASE_SERVER_URL" and not value:
            return value
        if urlsplit(value).scheme not in ("postgresql", "postgres"):
            raise ValueError("a postgresql:// URL")
        return value

    @field_validator("REDIS_URL", "RQ_REDIS_URL")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("a redis:// URL")
        return value

    @field_validator("GUNICORN_BIND")
    @classmethod
    def _bind_address(cls, value: str) -> str:
        _host, sep, port = value.rpartition(":")
        if value.startswith("unix:/") or (sep and port.isdigit() and 0 < int(port) < 65536):
            return value
        raise ValueError("HOST:PORT (e.g. 127.0.0.1:8000) or unix:/path/to.sock")

    @property
    def updates_per_tick(self) -> int:
        """How many matches one tick may update: the batch, capped by the tick limit."""
        return min(self.MATCH_MINUTE_BATCH_SIZE, self.MAX_UPDATES_PER_TICK)


# Values that are allowed but unusual enough to deserve a warning at start-up.
EXTREME_ABOVE: dict[str, tuple[float, str]] = {
    "MAX_UPDATES_PER_TICK": (100, "a tick this large can hold the pool for long"),
    "MATCH_MINUTE_BATCH_SIZE": (500, "a batch this large may not finish within one minute"),
    "DB_MAX_CONNECTIONS": (100, "check the database's max_connections first"),
    "PREDICTIONS_CACHE_TTL_S": (300, "predictions may be served minutes out of date"),
    "SINGLEFLIGHT_TIMEOUT_S": (30, "waiters may queue for long behind a slow query"),
    "ORCHESTRATOR_MAX_RETRIES": (10, "a stuck match will be retried many times per tick"),
    "MATCH_MINUTE_TIMEOUT_MS": (300_000, "a hung tick blocks the next ones for over 5 minutes"),
}


def extra(field: FieldInfo) -> dict[str, str]:
    """The field's `section` and `accepts` (in words), as `setting` declared them."""
    return cast(dict[str, str], field.json_schema_extra)


def bounds(name: str) -> dict[str, float]:
    """The range of numeric setting `name`: its ge/gt/le (empty for other settings)."""
    found = {}
    for metadata in Settings.model_fields[name].metadata:
        for attr in ("ge", "gt", "le"):
            if getattr(metadata, attr, None) is not None:
                found[attr] = getattr(metadata, attr)
    return found


def number_text(value: float) -> str:
    """A bound or default as the operator reads it: 5 for 5.0, 0.5 as is."""
    return str(value) if isinstance(value, int) else f"{value:g}"


def extreme_warnings(settings: Settings) -> list[str]:
    """Warnings for values inside the allowed range but outside the usual one."""
    warnings = []
    for name, (limit, why) in EXTREME_ABOVE.items():
        value = getattr(settings, name)
        if value > limit:
            warnings.append(f"{name}={value} is above {limit}: {why}")
    return warnings
