"""Ansible action (runs on the controller): one step of a secret's rotation in the store.

    goalgpt_secret_rotation: {name: db_app, step: begin}   # make <name>.next (once)
    goalgpt_secret_rotation: {name: db_app, step: finish}  # <name>.next becomes the value

Between the two steps the goalgpt_secret lookup gives both values to whoever must
accept them (playbooks/rotate_secrets.yml). A store file encrypted with
ansible-vault gets its next value encrypted the same way. Never returns a value.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.parsing.vault import VaultLib, is_encrypted
from ansible.plugins.action import ActionBase

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lookup"))

from goalgpt_secret import NEXT_SUFFIX, create, generate, store_dir

STEPS = ("begin", "finish")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        name = str(self._task.args.get("name", ""))
        step = str(self._task.args.get("step", ""))
        registry = self._templar.template(task_vars.get("goalgpt_secrets")) or {}
        if name not in registry:
            raise AnsibleActionFail(
                f"no secret {name!r} in goalgpt_secrets ({', '.join(registry)})"
            )
        if step not in STEPS:
            raise AnsibleActionFail(f"step must be one of {', '.join(STEPS)}, got {step!r}")
        given = self._templar.template(task_vars.get("goalgpt_secret_values")) or {}
        if name in given:
            raise AnsibleActionFail(
                f"{name} comes from goalgpt_secret_values (ansible-vault): rotate it there "
                "(see docs/security.md)"
            )
        store = store_dir(self._templar.template(task_vars.get("goalgpt_secrets_dir")), task_vars)
        path = store / name
        pending = path.with_name(path.name + NEXT_SUFFIX)
        if self._task.check_mode:
            return {**result, "changed": step == "begin" and not pending.exists()}
        changed = self._begin(path, pending) if step == "begin" else self._finish(path, pending)
        return {**result, "changed": changed, "path": str(path)}

    def _begin(self, path: Path, pending: Path) -> bool:
        if not path.exists():
            raise AnsibleActionFail(f"{path} does not exist: deploy once before rotating")
        if pending.exists():
            return False  # a rotation that was interrupted: go on with its next value
        value = generate()
        if is_encrypted(path.read_bytes()):
            vault = VaultLib(self._loader._vault.secrets)  # the secrets this run was given
            value = vault.encrypt(value).decode().strip()
        return create(pending, value)

    @staticmethod
    def _finish(path: Path, pending: Path) -> bool:
        if not pending.exists():
            return False
        os.replace(pending, path)
        return True
