"""Typed loader for `checks/thresholds.yml`, the one source of operator thresholds.

The capacity probe, the monitor, the smoke gate, testinfra and the Prometheus
alert rules all read their numbers through `load()`. A missing, unknown or
out-of-range key raises ThresholdsError with one line naming it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

DEFAULT_PATH = Path(__file__).with_name("thresholds.yml")


class ThresholdsError(ValueError):
    """The thresholds file is unusable; the message is one line for the operator."""


@dataclass(frozen=True)
class Capacity:
    slow_query_s: float
    max_slow_queries: int
    max_lock_waits: int
    max_utilization_pct: float
    headroom_connections: int
    pool_max_cap: int


@dataclass(frozen=True)
class MaxClientsErrors:
    target: int
    trigger_above: int
    window_s: float
    action: str


@dataclass(frozen=True)
class CacheHitRate:
    target_above_pct: float
    trigger_below_pct: float
    window_s: float
    min_requests: int
    action: str


@dataclass(frozen=True)
class DbActiveConnections:
    target_below: int
    trigger_above: int
    sustained_s: float
    action: str


@dataclass(frozen=True)
class PoolWaiting:
    target: int
    trigger_above: int
    action: str


@dataclass(frozen=True)
class Monitor:
    interval_s: float
    duration_s: float
    max_clients_errors: MaxClientsErrors
    cache_hit_rate: CacheHitRate
    db_active_connections: DbActiveConnections
    pool_waiting: PoolWaiting


@dataclass(frozen=True)
class QueueRedisMemory:
    trigger_above_pct: float
    action: str


@dataclass(frozen=True)
class QueueLength:
    trigger_above: int
    action: str


@dataclass(frozen=True)
class OldestJobAge:
    trigger_above_s: float
    action: str


@dataclass(frozen=True)
class Queues:
    queue_redis_memory: QueueRedisMemory
    queue_length: QueueLength
    oldest_job_age: OldestJobAge


@dataclass(frozen=True)
class Scheduler:
    trigger_above_s: float


@dataclass(frozen=True)
class Dependencies:
    down_for_s: float
    scheduler: Scheduler


@dataclass(frozen=True)
class LastGoodBackup:
    trigger_above_s: float


@dataclass(frozen=True)
class ArchiveFailures:
    trigger_above: int
    window_s: float


@dataclass(frozen=True)
class Backups:
    last_good_backup: LastGoodBackup
    archive_failures: ArchiveFailures


@dataclass(frozen=True)
class CertExpiry:
    trigger_below_days: float
    action: str


@dataclass(frozen=True)
class ClientSlots:
    trigger_above_pct: float
    action: str


@dataclass(frozen=True)
class Pgbouncer:
    client_slots: ClientSlots


@dataclass(frozen=True)
class Tls:
    cert_expiry: CertExpiry


@dataclass(frozen=True)
class Thresholds:
    capacity: Capacity
    monitor: Monitor
    queues: Queues
    pgbouncer: Pgbouncer
    dependencies: Dependencies
    backups: Backups
    tls: Tls


T = TypeVar("T")


def load(path: str | Path | None = None) -> Thresholds:
    """Read and validate a thresholds file (default: the one shipped in `checks/`)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ThresholdsError(f"cannot read thresholds file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise ThresholdsError(f"thresholds file {path} is not valid YAML: {first}") from None
    thresholds = _build(Thresholds, data, "")
    _check_ranges(thresholds)
    return thresholds


def monitor_from(data: Any) -> Monitor:
    """The monitor's section from its dict form (`dataclasses.asdict`), as a run records it."""
    return _build(Monitor, data, "monitor.")


def _build(cls: type[T], data: Any, where: str) -> T:
    if not isinstance(data, dict):
        raise ThresholdsError(f"thresholds: {where or 'the file'} must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ThresholdsError(f"thresholds: unknown key {where}{unknown[0]}")
    values = {}
    for name, field in fields.items():
        key = f"{where}{name}"
        if name not in data:
            raise ThresholdsError(f"thresholds: missing key {key}")
        values[name] = _value(field.type, data[name], key)
    return cls(**values)


def _value(type_name: Any, raw: Any, key: str) -> Any:
    kinds = {"int": int, "float": float, "str": str}
    if type_name in kinds:
        kind = kinds[type_name]
        ok = isinstance(raw, str) if kind is str else _is_number(raw, integral=kind is int)
        if not ok:
            raise ThresholdsError(f"thresholds: {key}={raw!r} must be {_describe(kind)}")
        return kind(raw)
    return _build(globals()[type_name], raw, f"{key}.")


def _is_number(raw: Any, integral: bool) -> bool:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return False
    return not integral or float(raw).is_integer()


def _describe(kind: type) -> str:
    return {int: "a whole number", float: "a number", str: "text"}[kind]


def _check_ranges(t: Thresholds) -> None:
    c, m, q, d, b = t.capacity, t.monitor, t.queues, t.dependencies, t.backups
    rules = [
        ("capacity.slow_query_s", c.slow_query_s > 0, "above 0"),
        ("capacity.max_slow_queries", c.max_slow_queries >= 0, "0 or more"),
        ("capacity.max_lock_waits", c.max_lock_waits >= 0, "0 or more"),
        ("capacity.max_utilization_pct", 0 < c.max_utilization_pct <= 100, "above 0, at most 100"),
        ("capacity.headroom_connections", c.headroom_connections >= 0, "0 or more"),
        ("capacity.pool_max_cap", c.pool_max_cap >= 1, "1 or more"),
        ("monitor.interval_s", m.interval_s > 0, "above 0"),
        ("monitor.duration_s", m.duration_s > 0, "above 0"),
        ("monitor.max_clients_errors.window_s", m.max_clients_errors.window_s > 0, "above 0"),
        ("monitor.cache_hit_rate.window_s", m.cache_hit_rate.window_s > 0, "above 0"),
        ("monitor.cache_hit_rate.min_requests", m.cache_hit_rate.min_requests >= 1, "1 or more"),
        (
            "monitor.cache_hit_rate.trigger_below_pct",
            0 <= m.cache_hit_rate.trigger_below_pct <= 100,
            "from 0 to 100",
        ),
        (
            "monitor.db_active_connections.sustained_s",
            m.db_active_connections.sustained_s >= 0,
            "0 or more",
        ),
        (
            "queues.queue_redis_memory.trigger_above_pct",
            0 < q.queue_redis_memory.trigger_above_pct < 100,
            "above 0 and below 100",
        ),
        ("queues.queue_length.trigger_above", q.queue_length.trigger_above >= 0, "0 or more"),
        ("queues.oldest_job_age.trigger_above_s", q.oldest_job_age.trigger_above_s > 0, "above 0"),
        (
            "pgbouncer.client_slots.trigger_above_pct",
            0 < t.pgbouncer.client_slots.trigger_above_pct < 100,
            "above 0 and below 100",
        ),
        ("dependencies.down_for_s", d.down_for_s >= 0, "0 or more"),
        ("dependencies.scheduler.trigger_above_s", d.scheduler.trigger_above_s > 0, "above 0"),
        (
            "backups.last_good_backup.trigger_above_s",
            b.last_good_backup.trigger_above_s > 0,
            "above 0",
        ),
        (
            "backups.archive_failures.trigger_above",
            b.archive_failures.trigger_above >= 0,
            "0 or more",
        ),
        ("backups.archive_failures.window_s", b.archive_failures.window_s > 0, "above 0"),
        ("tls.cert_expiry.trigger_below_days", t.tls.cert_expiry.trigger_below_days > 0, "above 0"),
    ]
    for key, ok, allowed in rules:
        if not ok:
            raise ThresholdsError(f"thresholds: {key} must be {allowed}")
