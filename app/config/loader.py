"""Read the settings from the environment; a bad value is one line for the operator."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from app.config.schema import Settings, bounds, extreme_warnings, number_text

# The package's name, as before the split: what operators' log filters know.
log = logging.getLogger("app.config")


class ConfigError(ValueError):
    """A configuration value is unusable; the message is one line for the operator."""


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
    found = {attr: number_text(value) for attr, value in bounds(name).items()}
    low = f"above {found['gt']}" if "gt" in found else f"from {found['ge']}"
    return f"{kind} {low} to {found['le']}"


def load_or_exit(environ: Mapping[str, str] | None = None) -> Settings:
    """`load` for entry points: a bad value prints one line and exits with status 2."""
    try:
        return load(environ)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
