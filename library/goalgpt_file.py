#!/usr/bin/python
"""Ansible module: one file's content and attributes in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: goalgpt_file
short_description: Write a file from content given by the controller, in one module run
description:
  - Compares the file with I(content) and its owner, group and mode with the ones
    asked, and writes only what differs: the content atomically (a temporary file in
    the same directory, then a rename), the attributes in place.
  - Does what M(ansible.builtin.template) or M(ansible.builtin.copy) with C(content)
    do, in one module run where they take two (a stat, then a file or copy) even when
    nothing changes. Render a template on the controller with C(lookup('template', ...)).
  - Supports check mode and diff mode (give secret files C(no_log), as for copy).
options:
  dest:
    description: The file's path; its directory must exist.
    type: path
    required: true
  content:
    description: What the file must hold (UTF-8).
    type: str
    required: true
  validate:
    description: A command run on the new content before it replaces the file; C(%s)
      is the temporary file's path. A non-zero exit leaves the file as it was.
    type: str
extends_documentation_fragment: [files]
"""

EXAMPLES = r"""
- name: Write supervisord.conf
  goalgpt_file:
    content: "{{ lookup('template', 'supervisord.conf.j2') }}"
    dest: /etc/goalgpt/supervisord.conf
    owner: root
    group: root
    mode: "0644"
  notify: Reload supervisord
"""

RETURN = r"""
changed:
  description: Whether the content or an attribute was (in check mode, would be) changed.
  type: bool
  returned: always
dest:
  description: The file's path.
  type: str
  returned: always
"""

import os  # noqa: E402 (Ansible modules open with their documentation)
import shlex  # noqa: E402
import tempfile  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def current(dest: str) -> bytes | None:
    """The file's bytes, or None when it does not exist."""
    try:
        with open(dest, "rb") as held:
            return held.read()
    except FileNotFoundError:
        return None


def diff_of(dest: str, before: bytes | None, after: bytes) -> dict:
    def text(data: bytes | None) -> str:
        try:
            return "" if data is None else data.decode("utf-8")
        except UnicodeDecodeError:
            return "[not UTF-8]"

    return {"before_header": dest, "after_header": dest, "before": text(before),
            "after": text(after)}  # fmt: skip


def write(module: AnsibleModule, dest: str, data: bytes) -> None:
    """Write `data` beside dest with its attributes, validate it, then rename it over
    dest: the new file is never seen half-written or with another mode (a secret's)."""
    handle, staged = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".goalgpt_file.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staged, 0o666 & ~umask)  # mkstemp's 0600 is no default: as copy does
        module.set_fs_attributes_if_different(
            module.load_file_common_arguments(module.params, path=staged), True
        )
        validate = module.params["validate"]
        if validate:
            rc, out, err = module.run_command(shlex.split(validate.replace("%s", staged)))
            if rc != 0:
                module.fail_json(msg=f"validate refused the new {dest}: {(err or out).strip()}")
        os.replace(staged, dest)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "dest": {"type": "path", "required": True},
            "content": {"type": "str", "required": True},
            "validate": {"type": "str"},
        },
        add_file_common_args=True,
        supports_check_mode=True,
    )
    dest = module.params["dest"]
    if os.path.isdir(dest):
        module.fail_json(msg=f"{dest} is a directory")
    if not os.path.isdir(os.path.dirname(dest) or "/"):
        module.fail_json(msg=f"the directory of {dest} does not exist")
    validate = module.params["validate"]
    if validate and "%s" not in validate:
        module.fail_json(msg="validate must name the file to check as %s")

    before, after = current(dest), module.params["content"].encode("utf-8")
    changed = before != after
    result: dict = {"dest": dest}
    if changed and module._diff:
        result["diff"] = diff_of(dest, before, after)
    if changed and not module.check_mode:
        write(module, dest, after)
    if before is not None or not module.check_mode:
        file_args = module.load_file_common_arguments(module.params, path=dest)
        changed = module.set_fs_attributes_if_different(file_args, changed)
    module.exit_json(changed=changed, **result)


if __name__ == "__main__":
    main()
