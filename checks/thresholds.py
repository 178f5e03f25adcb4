"""Typed loader for `checks/thresholds.yml`, the one source of operator thresholds.

The capacity probe, the monitor, the smoke gate, testinfra and the Prometheus
alert rules all read their numbers through `load()`. A missing, unknown or
out-of-range key raises ThresholdsError with one line naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

DEFAULT_PATH = Path(__file__).with_name("thresholds.yml")


class ThresholdsError(ValueError):
    """The thresholds file is unusable; the message is one line for the operator."""


def _kind(kind: type, words: str) -> BeforeValidator:
    """Only a YAML value of this kind: no "5" for a number, no 2.5 or true for a whole one."""

    def check(raw: Any) -> Any:
        if kind is str:
            ok = isinstance(raw, str)
        elif isinstance(raw, bool) or not isinstance(raw, int | float):
            ok = False
        else:
            ok = kind is float or float(raw).is_integer()
        if not ok:
            raise PydanticCustomError("wrong_kind", words)
        return kind(raw)

    return BeforeValidator(check)


Whole = Annotated[int, _kind(int, "a whole number")]
Number = Annotated[float, _kind(float, "a number")]
Text = Annotated[str, _kind(str, "text")]


class _Section(BaseModel):
    """A mapping of the file: every key required, none unknown, read-only."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Capacity(_Section):
    slow_query_s: Number = Field(gt=0)
    max_slow_queries: Whole = Field(ge=0)
    max_lock_waits: Whole = Field(ge=0)
    max_utilization_pct: Number = Field(gt=0, le=100)
    headroom_connections: Whole = Field(ge=0)
    pool_max_cap: Whole = Field(ge=1)


class MaxClientsErrors(_Section):
    target: Whole
    trigger_above: Whole
    window_s: Number = Field(gt=0)
    action: Text


class CacheHitRate(_Section):
    target_above_pct: Number
    trigger_below_pct: Number = Field(ge=0, le=100)
    window_s: Number = Field(gt=0)
    min_requests: Whole = Field(ge=1)
    action: Text


class DbActiveConnections(_Section):
    target_below: Whole
    trigger_above: Whole
    sustained_s: Number = Field(ge=0)
    action: Text


class PoolWaiting(_Section):
    target: Whole
    trigger_above: Whole
    action: Text


class Monitor(_Section):
    interval_s: Number = Field(gt=0)
    duration_s: Number = Field(gt=0)
    max_clients_errors: MaxClientsErrors
    cache_hit_rate: CacheHitRate
    db_active_connections: DbActiveConnections
    pool_waiting: PoolWaiting


class QueueRedisMemory(_Section):
    trigger_above_pct: Number = Field(gt=0, lt=100)
    action: Text


class QueueLength(_Section):
    trigger_above: Whole = Field(ge=0)
    action: Text


class OldestJobAge(_Section):
    trigger_above_s: Number = Field(gt=0)
    action: Text


class Queues(_Section):
    queue_redis_memory: QueueRedisMemory
    queue_length: QueueLength
    oldest_job_age: OldestJobAge


class Scheduler(_Section):
    trigger_above_s: Number = Field(gt=0)


class Dependencies(_Section):
    down_for_s: Number = Field(ge=0)
    scheduler: Scheduler


class LastGoodBackup(_Section):
    trigger_above_s: Number = Field(gt=0)


class ArchiveFailures(_Section):
    trigger_above: Whole = Field(ge=0)
    window_s: Number = Field(gt=0)


class Backups(_Section):
    last_good_backup: LastGoodBackup
    archive_failures: ArchiveFailures


class CertExpiry(_Section):
    trigger_below_days: Number = Field(gt=0)
    action: Text


class ClientSlots(_Section):
    trigger_above_pct: Number = Field(gt=0, lt=100)
    action: Text


class Pgbouncer(_Section):
    client_slots: ClientSlots


class Tls(_Section):
    cert_expiry: CertExpiry


class Thresholds(_Section):
    capacity: Capacity
    monitor: Monitor
    queues: Queues
    pgbouncer: Pgbouncer
    dependencies: Dependencies
    backups: Backups
    tls: Tls


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
    return _validate(Thresholds, data, ())


def monitor_from(data: Any) -> Monitor:
    """The monitor's section from its dict form (`model_dump()`), as a run records it."""
    return _validate(Monitor, data, ("monitor",))


_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


M = TypeVar("M", bound=BaseModel)


def _validate(model: type[M], data: Any, where: tuple[str, ...]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # A value's range is judged only once the file's shape is right, as an operator
        # fixes a file: first what is missing or misspelt, then what is out of range.
        errors = sorted(exc.errors(), key=lambda e: e["type"] in _RANGE_ERRORS)
        raise ThresholdsError(_one_line(model, errors[0], where)) from None


def _one_line(model: type[BaseModel], error: ErrorDetails, where: tuple[str, ...]) -> str:
    key = ".".join(map(str, (*where, *error["loc"])))
    kind = error["type"]
    if kind == "missing":
        return f"thresholds: missing key {key}"
    if kind in ("extra_forbidden", "invalid_key"):
        return f"thresholds: unknown key {key}"
    if kind == "wrong_kind":
        return f"thresholds: {key}={error['input']!r} must be {error['msg']}"
    if kind in _RANGE_ERRORS:
        return f"thresholds: {key} must be {_allowed(_field(model, error['loc']))}"
    return f"thresholds: {key or 'the file'} must be a mapping"


def _field(model: type[BaseModel], loc: tuple[int | str, ...]) -> FieldInfo:
    *sections, name = loc
    for section in sections:
        model = model.model_fields[str(section)].annotation  # type: ignore[assignment]
    return model.model_fields[str(name)]


def _allowed(field: FieldInfo) -> str:
    """A field's declared range in the operator's words."""
    b = {
        attr: getattr(m, attr)
        for m in field.metadata
        for attr in ("gt", "ge", "lt", "le")
        if getattr(m, attr, None) is not None
    }
    if "lt" in b:
        return f"above {b['gt']} and below {b['lt']}"
    if "le" not in b:
        return f"above {b['gt']}" if "gt" in b else f"{b['ge']} or more"
    return f"above {b['gt']}, at most {b['le']}" if "gt" in b else f"from {b['ge']} to {b['le']}"
