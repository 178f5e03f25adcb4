"""The roles' defaults as a deploy without overrides sees them (roles/*/defaults/main.yml),
and the facts every role shares (playbooks/group_vars/all/)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import yaml

from tests.support.paths import REPO

# A default that is only another variable: `redis_cache_port: "{{ goalgpt_redis_cache_port }}"`.
ALIAS = re.compile(r"^\{\{\s*(\w+)\s*\}\}$")
# A variable named in a value: `goalgpt_base_current: "{{ goalgpt_base_home }}/current"`.
REFERENCE = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def role_defaults(*, rendered_only: bool = False) -> dict[str, Any]:
    """Every role's defaults merged, a default that names a shared fact taking the fact's
    value; `rendered_only` drops values that are (still) Jinja templates."""
    shared = _merged("playbooks/group_vars/all/*.yml")
    found = {
        name: _aliased(value, shared)
        for name, value in _merged("roles/*/defaults/main.yml").items()
    }
    return _rendered(found) if rendered_only else found


def shared_vars(*, rendered_only: bool = False) -> dict[str, Any]:
    """playbooks/group_vars/all/*.yml merged; `rendered_only` as for role_defaults."""
    found = _merged("playbooks/group_vars/all/*.yml")
    return _rendered(found) if rendered_only else found


def resolved(name: str, variables: Mapping[str, Any]) -> str:
    """`name`'s value with every variable it names replaced by that one's (resolved) value,
    as Ansible renders a path a role derives from another: `{{ goalgpt_base_home }}/current`."""
    return REFERENCE.sub(lambda named: resolved(named[1], variables), str(variables[name]))


def _merged(pattern: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for path in sorted(REPO.glob(pattern)):
        found |= yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return found


def _aliased(value: Any, shared: dict[str, Any]) -> Any:
    alias = ALIAS.match(value) if isinstance(value, str) else None
    return shared.get(alias[1], value) if alias else value


def _rendered(found: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in found.items() if not (isinstance(v, str) and "{{" in v)}
