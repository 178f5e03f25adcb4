"""One validated configuration for the web app, the jobs and the operator tools.

The Python form of the seed's JOB_CONFIG plus the app settings. Every value can
be overridden from the environment; a bad value stops start-up with one line
naming the variable, the value and the allowed range. `python -m app.config`
prints the summary (secrets masked), `--json` for machines.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from croniter import croniter
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app import cli

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A configuration value is unusable; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    # Connections
    DATABASE_URL: str = "postgresql://goalgpt@127.0.0.1:5432/goalgpt"
    # Two Redis servers: the cache and its short-lived locks (allkeys-lru, no persistence),
    # and the RQ queues with the jobs' locks and stats (noeviction, appendonly).
    REDIS_URL: str = "redis://127.0.0.1:6379/0"
    RQ_REDIS_URL: str = "redis://127.0.0.1:6380/0"
    DB_MAX_CONNECTIONS: int = Field(50, ge=1, le=500)
    POOL_TIMEOUT_S: float = Field(5.0, gt=0, le=120)

    # Predictions cache
    PREDICTIONS_CACHE_TTL_S: int = Field(30, ge=1, le=3600)
    PREDICTIONS_CACHE_STALE_S: int = Field(30, ge=0, le=3600)
    SINGLEFLIGHT_TIMEOUT_S: float = Field(10.0, gt=0, le=120)
    # Fresh entries each web worker also keeps in memory until they expire; 0 = off.
    PREDICTIONS_LOCAL_CACHE_ENTRIES: int = Field(256, ge=0, le=100_000)
    # Background refreshes of stale keys one web process runs at once; each holds a
    # database connection (a web process holds at most GUNICORN_THREADS + this many).
    PREDICTIONS_MAX_REFRESHES: int = Field(2, ge=0, le=64)
    # Redis calls fail fast instead of hanging a request: the cache is optional.
    REDIS_SOCKET_TIMEOUT_S: float = Field(0.5, gt=0, le=30)

    # Web server (app/gunicorn_conf.py)
    GUNICORN_BIND: str = "127.0.0.1:8000"
    GUNICORN_WORKERS: int = Field(2, ge=1, le=64)
    GUNICORN_THREADS: int = Field(8, ge=1, le=256)

    # Jobs (the seed's JOB_CONFIG)
    MATCH_MINUTE_TIMEOUT_MS: int = Field(120_000, ge=1_000, le=3_600_000)
    MATCH_MINUTE_BATCH_SIZE: int = Field(100, ge=1, le=10_000)
    MAX_UPDATES_PER_TICK: int = Field(50, ge=1, le=10_000)
    MATCH_MINUTE_CRON: str = "* * * * *"
    MATCH_WATCHDOG_TIMEOUT_MS: int = Field(300_000, ge=1_000, le=3_600_000)
    MATCH_WATCHDOG_CRON: str = "*/5 * * * *"
    DATA_COMPLETENESS_TIMEOUT_MS: int = Field(300_000, ge=1_000, le=3_600_000)
    DATA_COMPLETENESS_CRON: str = "*/10 * * * *"
    ORCHESTRATOR_LOCK_TIMEOUT_MS: int = Field(10_000, ge=100, le=600_000)
    ORCHESTRATOR_MAX_RETRIES: int = Field(3, ge=0, le=20)

    # Job runtime (app/jobs): fleet lock, retries, abandoned-job detection, repairs
    JOB_LOCK_LEASE_S: int = Field(30, ge=1, le=600)
    JOB_RETRY_MAX: int = Field(3, ge=0, le=20)
    # Connections of the pool each job opens (one job at a time per rq worker process);
    # its own setting: a worker never uses DB_MAX_CONNECTIONS, the web pool's size.
    JOB_DB_MAX_CONNECTIONS: int = Field(2, ge=1, le=20)
    JOB_RETRY_INTERVAL_S: int = Field(10, ge=0, le=600)
    WORKER_HEARTBEAT_GRACE_S: int = Field(15, ge=1, le=600)
    WATCHDOG_STALE_AFTER_S: int = Field(600, ge=60, le=86_400)
    WATCHDOG_FULL_TIME_AFTER_MIN: int = Field(150, ge=100, le=1440)
    DATA_COMPLETENESS_BATCH_SIZE: int = Field(500, ge=1, le=10_000)
    # Schema migrations (python -m app.migrations)
    MIGRATION_LOCK_TIMEOUT_MS: int = Field(2_000, ge=10, le=60_000)
    MIGRATION_LOCK_RETRIES: int = Field(5, ge=0, le=50)

    @field_validator("MATCH_MINUTE_CRON", "MATCH_WATCHDOG_CRON", "DATA_COMPLETENESS_CRON")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        if len(value.split()) != 5 or not croniter.is_valid(value):
            raise ValueError("a five-field cron expression such as '*/5 * * * *'")
        return value

    @field_validator("DATABASE_URL")
    @classmethod
    def _postgres_url(cls, value: str) -> str:
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

SECRET_FIELDS = ("DATABASE_URL", "REDIS_URL", "RQ_REDIS_URL")


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the configuration from `environ` (default: the process environment).

    Raises ConfigError with a one-line message on the first bad value, and logs a
    warning for every extreme one.
    """
    env = dict(os.environ if environ is None else environ)
    known = {name: env[name] for name in Settings.model_fields if name in env}
    try:
        settings = Settings.model_validate(known)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, known)) from None
    for warning in extreme_warnings(settings):
        log.warning(warning)
    return settings


def _one_line(exc: ValidationError, given: Mapping[str, str]) -> str:
    error = exc.errors()[0]
    name = str(error["loc"][0])
    value = given.get(name, "")
    return f"invalid {name}={value!r}: must be {allowed_range(name, error)}"


def allowed_range(name: str, error: Mapping[str, Any] | None = None) -> str:
    """Describe in words what values `name` accepts."""
    field = Settings.model_fields[name]
    kind = {int: "a whole number", float: "a number"}.get(field.annotation)
    if kind is None:
        message = str((error or {}).get("msg", "a valid value"))
        return message.removeprefix("Value error, ")
    bounds = {}
    for metadata in field.metadata:
        for attr in ("ge", "gt", "le"):
            if getattr(metadata, attr, None) is not None:
                bounds[attr] = getattr(metadata, attr)
    low = f"above {_number(bounds['gt'])}" if "gt" in bounds else f"from {_number(bounds['ge'])}"
    return f"{kind} {low} to {_number(bounds['le'])}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def extreme_warnings(settings: Settings) -> list[str]:
    """Warnings for values inside the allowed range but outside the usual one."""
    warnings = []
    for name, (limit, why) in EXTREME_ABOVE.items():
        value = getattr(settings, name)
        if value > limit:
            warnings.append(f"{name}={value} is above {limit}: {why}")
    return warnings


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def summary(settings: Settings) -> dict[str, dict[str, Any]]:
    """The configuration grouped as the seed's JOB_CONFIG, secrets masked."""
    values = settings.model_dump()
    for name in SECRET_FIELDS:
        values[name] = mask_url(values[name])
    return {
        "APP": {
            k: values[k]
            for k in (
                "DATABASE_URL",
                "REDIS_URL",
                "RQ_REDIS_URL",
                "DB_MAX_CONNECTIONS",
                "POOL_TIMEOUT_S",
            )
        },
        "PREDICTIONS_CACHE": {
            "TTL_S": values["PREDICTIONS_CACHE_TTL_S"],
            "STALE_S": values["PREDICTIONS_CACHE_STALE_S"],
            "SINGLEFLIGHT_TIMEOUT_S": values["SINGLEFLIGHT_TIMEOUT_S"],
            "LOCAL_CACHE_ENTRIES": values["PREDICTIONS_LOCAL_CACHE_ENTRIES"],
            "REDIS_SOCKET_TIMEOUT_S": values["REDIS_SOCKET_TIMEOUT_S"],
            "MAX_REFRESHES": values["PREDICTIONS_MAX_REFRESHES"],
        },
        "WEB": {
            "GUNICORN_BIND": values["GUNICORN_BIND"],
            "GUNICORN_WORKERS": values["GUNICORN_WORKERS"],
            "GUNICORN_THREADS": values["GUNICORN_THREADS"],
        },
        "MATCH_MINUTE": {
            "TIMEOUT_MS": values["MATCH_MINUTE_TIMEOUT_MS"],
            "BATCH_SIZE": values["MATCH_MINUTE_BATCH_SIZE"],
            "MAX_UPDATES_PER_TICK": values["MAX_UPDATES_PER_TICK"],
            "EFFECTIVE_UPDATES_PER_TICK": settings.updates_per_tick,
            "CRON": values["MATCH_MINUTE_CRON"],
        },
        "MATCH_WATCHDOG": {
            "TIMEOUT_MS": values["MATCH_WATCHDOG_TIMEOUT_MS"],
            "CRON": values["MATCH_WATCHDOG_CRON"],
        },
        "DATA_COMPLETENESS": {
            "TIMEOUT_MS": values["DATA_COMPLETENESS_TIMEOUT_MS"],
            "CRON": values["DATA_COMPLETENESS_CRON"],
        },
        "ORCHESTRATOR": {
            "LOCK_TIMEOUT_MS": values["ORCHESTRATOR_LOCK_TIMEOUT_MS"],
            "MAX_RETRIES": values["ORCHESTRATOR_MAX_RETRIES"],
        },
        "JOBS": {
            "DB_MAX_CONNECTIONS": values["JOB_DB_MAX_CONNECTIONS"],
            "LOCK_LEASE_S": values["JOB_LOCK_LEASE_S"],
            "RETRY_MAX": values["JOB_RETRY_MAX"],
            "RETRY_INTERVAL_S": values["JOB_RETRY_INTERVAL_S"],
            "WORKER_HEARTBEAT_GRACE_S": values["WORKER_HEARTBEAT_GRACE_S"],
            "WATCHDOG_STALE_AFTER_S": values["WATCHDOG_STALE_AFTER_S"],
            "WATCHDOG_FULL_TIME_AFTER_MIN": values["WATCHDOG_FULL_TIME_AFTER_MIN"],
            "DATA_COMPLETENESS_BATCH_SIZE": values["DATA_COMPLETENESS_BATCH_SIZE"],
        },
        "MIGRATIONS": {
            "LOCK_TIMEOUT_MS": values["MIGRATION_LOCK_TIMEOUT_MS"],
            "LOCK_RETRIES": values["MIGRATION_LOCK_RETRIES"],
        },
    }


def format_summary(settings: Settings) -> str:
    lines = []
    for section, values in summary(settings).items():
        lines.append(f"[{section}]")
        lines.extend(f"  {key} = {value}" for key, value in values.items())
    warnings = extreme_warnings(settings)
    if warnings:
        lines.append("[WARNINGS]")
        lines.extend(f"  {w}" for w in warnings)
    return "\n".join(lines)


def load_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    """`load` for entry points: a bad value prints one line and exits with status 2."""
    try:
        return load(environ)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.config",
        description="Print the effective configuration (secrets masked). "
        "Exit 0 when valid, 2 when a value is invalid.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    settings = load_or_exit()
    if args.json:
        data = summary(settings) | {"warnings": extreme_warnings(settings)}
        print(json.dumps(data, indent=2))
    else:
        print(format_summary(settings))
    return 0


if __name__ == "__main__":
    cli.run(main)
