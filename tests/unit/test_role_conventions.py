"""The role conventions of docs/deploy.md ("Writing a role") hold for every role: each
public variable is in the role's argument spec and its README, and a registered variable
carries the role's private prefix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

ROLES = sorted(path.parent.parent for path in REPO.glob("roles/*/defaults/main.yml"))
REGISTER = re.compile(r"^\s*register:\s*(\S+)", re.MULTILINE)


def defaults(role: Path) -> set[str]:
    return set(yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {})


def specified(role: Path) -> set[str]:
    """Every option of every entry point of the role's argument spec."""
    spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())
    return {name for entry in spec["argument_specs"].values() for name in entry["options"]}


def registers(role: Path) -> dict[str, str]:
    return {
        name: path.relative_to(REPO).as_posix()
        for path in role.rglob("*.yml")
        for name in REGISTER.findall(path.read_text())
    }


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_every_default_is_in_the_argument_spec(role: Path) -> None:
    assert (role / "meta" / "argument_specs.yml").is_file()
    assert sorted(defaults(role) - specified(role)) == []


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_every_default_is_in_the_readme(role: Path) -> None:
    readme = (role / "README.md").read_text()
    assert sorted(name for name in defaults(role) if f"`{name}`" not in readme) == []


@pytest.mark.parametrize("role", ROLES, ids=lambda role: role.name)
def test_registered_variables_carry_the_roles_private_prefix(role: Path) -> None:
    prefix = f"__{role.name}_"
    assert {n: p for n, p in registers(role).items() if not n.startswith(prefix)} == {}
