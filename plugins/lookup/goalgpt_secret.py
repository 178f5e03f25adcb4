"""Ansible lookup: a secret of the fleet from the controller's one store of secrets.

    lookup('goalgpt_secret', 'db_app')                    # the value in service
    query('goalgpt_secret', 'db_app', values='accepted')  # every value to accept now (a list)
    lookup('goalgpt_secret', 'db_app', values='newest')   # the value servers should hold

Every secret is declared in `goalgpt_secrets` (playbooks/group_vars/all/secrets.yml)
and kept in `goalgpt_secrets_dir` on the controller (default: secrets/ beside the inventory):
one file per secret (mode
0600, directory 0700), generated on first use with 32 random letters and digits
(safe in URLs, env files and server configurations), or encrypted with
ansible-vault (the file is read through Ansible's vault). A value in the
vault-encrypted dict `goalgpt_secret_values` wins over the file.

During a rotation (playbooks/rotate_secrets.yml) the next value waits in
`<name>.next`: `accepted` is [current, next] and `newest` is next, so clients can
try both while servers switch.
"""

from __future__ import annotations

import os
import secrets
import string
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

DOCUMENTATION = r"""
name: goalgpt_secret
short_description: a secret from the fleet's store on the controller, generated once
options:
  _terms:
    description: Names of secrets declared in goalgpt_secrets.
    required: true
  values:
    description: current (the value in service), accepted (current and, during a
      rotation, the next one) or newest (the next one during a rotation, else current).
    default: current
"""

ALPHABET = string.ascii_letters + string.digits
LENGTH = 32
NEXT_SUFFIX = ".next"
CHOICES = ("current", "accepted", "newest")


class LookupModule(LookupBase):
    def run(self, terms: list[str], variables: dict[str, Any] | None = None, **kwargs: Any):
        values = kwargs.get("values", "current")
        if values not in CHOICES:
            raise AnsibleLookupError(f"goalgpt_secret: values={values!r}, not one of {CHOICES}")
        variables = variables or {}
        registry = self._var(variables, "goalgpt_secrets") or {}
        store = store_dir(self._var(variables, "goalgpt_secrets_dir"), variables)
        given = self._var(variables, "goalgpt_secret_values") or {}
        if values == "accepted" and len(terms) != 1:
            raise AnsibleLookupError("goalgpt_secret: values=accepted takes one name")
        found: list[str] = []
        for name in terms:
            if name not in registry:
                raise AnsibleLookupError(
                    f"goalgpt_secret: no secret {name!r} in goalgpt_secrets "
                    f"({', '.join(sorted(registry))})"
                )
            if name in given:
                found.append(str(given[name]))
            else:
                found.extend(self._from_store(store, name, values))
        return found

    def _var(self, variables: dict[str, Any], name: str) -> Any:
        if name not in variables:
            return None
        return self._templar.template(variables[name])

    def _from_store(self, store: Path, name: str, values: str) -> list[str]:
        current = self._read_or_create(store, name)
        pending = self._read(store / f"{name}{NEXT_SUFFIX}")
        if values == "accepted":
            return [current] + ([pending] if pending and pending != current else [])
        if values == "newest":
            return [pending or current]
        return [current]

    def _read_or_create(self, store: Path, name: str) -> str:
        path = store / name
        found = self._read(path)
        if found is None:
            create(path)
            found = self._read(path)
        if not found:
            raise AnsibleLookupError(f"goalgpt_secret: {path} is empty")
        return found

    def _read(self, path: Path) -> str | None:
        if not path.exists():
            return None
        try:
            text = self._loader.get_text_file_contents(str(path))  # decrypts a vault file
        except Exception as exc:
            raise AnsibleLookupError(f"goalgpt_secret: cannot read {path}: {exc}") from None
        return text.strip()


def store_dir(given: Any, variables: dict[str, Any]) -> Path:
    """goalgpt_secrets_dir, else secrets/ beside the inventory of the host asking."""
    if given:
        return Path(str(given))
    if not variables.get("inventory_dir"):
        raise AnsibleLookupError(
            "goalgpt_secret: no goalgpt_secrets_dir and no inventory_dir (run it for an "
            "inventory host)"
        )
    return Path(str(variables["inventory_dir"])) / "secrets"


def generate() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def create(path: Path, value: str | None = None) -> bool:
    """Write a new secret to path (0600, directory 0700) unless it exists; True if written.

    Written whole to a temporary file, then linked into place: two runs making the
    same secret at once agree on the first one, and a killed run leaves no half file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    scratch = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write((value or generate()) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(scratch, path)
        except FileExistsError:
            return False
        return True
    finally:
        scratch.unlink(missing_ok=True)
