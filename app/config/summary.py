"""What a host runs with: every setting by section, secrets masked (`python -m app.config`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from app.config.schema import MATCH_MINUTE, Settings, extra, extreme_warnings

SECRET_FIELDS = ("DATABASE_URL", "REDIS_URL", "RQ_REDIS_URL")


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def summary(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every setting by its variable name, in the original service's JOB_CONFIG groups,
    secrets masked."""
    values = settings.model_dump()
    for name in SECRET_FIELDS:
        values[name] = mask_url(values[name])
    sections: dict[str, dict[str, Any]] = {}
    for name, field in Settings.model_fields.items():
        sections.setdefault(extra(field)["section"], {})[name] = values[name]
    # Derived, not a variable: what a tick really does (the batch capped by the limit).
    sections[MATCH_MINUTE]["EFFECTIVE_UPDATES_PER_TICK"] = settings.updates_per_tick
    return sections


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
