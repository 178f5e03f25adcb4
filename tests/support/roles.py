"""The roles' defaults as a deploy without overrides sees them (roles/*/defaults/main.yml),
and the facts every role shares (playbooks/group_vars/all/)."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.paths import REPO


def role_defaults(*, rendered_only: bool = False) -> dict[str, Any]:
    """Every role's defaults merged; `rendered_only` drops values that are Jinja templates."""
    return _merged("roles/*/defaults/main.yml", rendered_only)


def shared_vars(*, rendered_only: bool = False) -> dict[str, Any]:
    """playbooks/group_vars/all/*.yml merged; `rendered_only` as for role_defaults."""
    return _merged("playbooks/group_vars/all/*.yml", rendered_only)


def _merged(pattern: str, rendered_only: bool) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(REPO.glob(pattern)):
        found |= yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if rendered_only:
        found = {k: v for k, v in found.items() if not (isinstance(v, str) and "{{" in v)}
    return found
