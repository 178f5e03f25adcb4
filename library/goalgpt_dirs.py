#!/usr/bin/python
"""Ansible module: several directories and their attributes in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: goalgpt_dirs
short_description: Create directories and set their owner, group and mode, in one module run
description:
  - What M(ansible.builtin.file) with C(state=directory) does for one path, for every
    path of I(paths) in one module run (a C(loop) of the file module is one run per
    path). A missing parent is created with the same attributes, as the file module does.
  - An item of I(paths) is an absolute path, which takes the task's I(owner), I(group)
    and I(mode), or a dict with C(path) and any of C(owner), C(group), C(mode) of its own.
  - Supports check mode.
options:
  paths:
    description: The directories, each an absolute path or a dict (see above).
    type: list
    elements: raw
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

- name: Create the configuration and data directories
  goalgpt_dirs:
    paths:
      - {path: /etc/goalgpt/redis, owner: root, group: root, mode: "0755"}
      - {path: /var/lib/goalgpt-redis, owner: redis, group: redis, mode: "0750"}
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


OWN_ATTRIBUTES = ("owner", "group", "mode")


def entries(module: AnsibleModule) -> list[tuple[str, dict]]:
    """Each item of paths as (path, its file parameters): the task's, or its own."""
    found = []
    for item in module.params["paths"]:
        item = item if isinstance(item, dict) else {"path": item}
        unknown = set(item) - {"path", *OWN_ATTRIBUTES}
        if not isinstance(item.get("path"), str) or unknown:
            module.fail_json(
                msg=f"an item of paths is a path or a dict of path, owner, group, mode: {item}"
            )
        if not os.path.isabs(item["path"]):
            module.fail_json(msg=f"paths must be absolute: {item['path']}")
        params = module.params | {k: v for k, v in item.items() if k in OWN_ATTRIBUTES}
        found.append((item["path"], params))
    return found


def ensure(module: AnsibleModule, path: str, params: dict, created: list[str]) -> bool:
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
        file_args = module.load_file_common_arguments(params, path=directory)
        changed = module.set_fs_attributes_if_different(file_args, bool(new)) or changed
    return changed


def main() -> None:
    module = AnsibleModule(
        argument_spec={"paths": {"type": "list", "elements": "raw", "required": True}},
        add_file_common_args=True,
        supports_check_mode=True,
    )
    created: list[str] = []
    changed = False
    for path, params in entries(module):
        changed = ensure(module, path, params, created) or changed
    module.exit_json(changed=changed, created=created)


if __name__ == "__main__":
    main()
