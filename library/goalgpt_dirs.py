#!/usr/bin/python
"""Ansible module: several directories with the same attributes in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: goalgpt_dirs
short_description: Create directories and set their owner, group and mode, in one module run
description:
  - What M(ansible.builtin.file) with C(state=directory) does for one path, for every
    path of I(paths) in one module run (a C(loop) of the file module is one run per
    path). A missing parent is created with the same attributes, as the file module does.
  - Supports check mode.
options:
  paths:
    description: The directories, each an absolute path.
    type: list
    elements: path
    required: true
extends_documentation_fragment: [files]
"""

EXAMPLES = r"""
- name: Create the directories root owns
  goalgpt_dirs:
    paths: [/opt/goalgpt, /opt/goalgpt/bin]
    owner: root
    group: root
    mode: "0755"
"""

RETURN = r"""
changed:
  description: Whether a directory was (in check mode, would be) created or changed.
  type: bool
  returned: always
created:
  description: The directories created (in check mode, that would be).
  type: list
  elements: str
  returned: always
"""

import os  # noqa: E402 (Ansible modules open with their documentation)

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def missing(path: str) -> list[str]:
    """path and its parents that do not exist, outermost first."""
    absent = []
    while not os.path.exists(path):
        absent.append(path)
        path = os.path.dirname(path)
    return absent[::-1]


def ensure(module: AnsibleModule, path: str, created: list[str]) -> bool:
    """Create path (and its missing parents) and set its attributes; True when changed."""
    if os.path.exists(path) and not os.path.isdir(path):
        module.fail_json(msg=f"{path} exists and is not a directory")
    new = missing(path)
    created.extend(new)
    # In check mode a missing directory is a change; on an existing one the loop below
    # runs as usual: set_fs_attributes_if_different only reports in check mode.
    if new and module.check_mode:
        return True
    changed = False
    for directory in new or [path]:
        if new:
            os.mkdir(directory)
        file_args = module.load_file_common_arguments(module.params, path=directory)
        changed = module.set_fs_attributes_if_different(file_args, bool(new)) or changed
    return changed


def main() -> None:
    module = AnsibleModule(
        argument_spec={"paths": {"type": "list", "elements": "path", "required": True}},
        add_file_common_args=True,
        supports_check_mode=True,
    )
    relative = [p for p in module.params["paths"] if not os.path.isabs(p)]
    if relative:
        module.fail_json(msg=f"paths must be absolute: {', '.join(relative)}")
    created: list[str] = []
    changed = False
    for path in module.params["paths"]:
        changed = ensure(module, path, created) or changed
    module.exit_json(changed=changed, created=created)


if __name__ == "__main__":
    main()
