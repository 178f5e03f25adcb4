"""The roles' defaults as a deploy without overrides sees them (roles/*/defaults/main.yml),
and the facts every role shares (playbooks/group_vars/all/)."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.paths import REPO


def role_defaults(*, rendered_only: bool = False) -> dict[str, Any]:
    """Every role's defaults merged; `rendered_only` drops values that are Jinja templates."""
    found: dict[str, Any] = {}
    for path in sorted(REPO.glob("roles/*/defaults/main.yml")):
        found |= yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if rendered_only:
        found = {k: v for k, v in found.items() if not (isinstance(v, str) and "{{" in v)}
    return found


def shared_vars(*, rendered_only: bool = False) -> dict[str, Any]:
    """playbooks/group_vars/all/*.yml merged; `rendered_only` as for role_defaults."""
    found: dict[str, Any] = {}
    for path in sorted(REPO.glob("playbooks/group_vars/all/*.yml")):
        found |= yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if rendered_only:
        found = {k: v for k, v in found.items() if not (isinstance(v, str) and "{{" in v)}
    return found
