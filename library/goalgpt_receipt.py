#!/usr/bin/python
"""Ansible module: the receipt a deploy leaves on a host, and whether the host still matches it."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: goalgpt_receipt
short_description: Tell whether a host is as the last deploy left it, in one module run
description:
  - A deploy that converged a host writes a receipt (I(state=write)): the digest of
    everything the deploy was made from (I(inputs), from the C(goalgpt_inputs) lookup),
    a SHA-256 of each path in I(watch) (a folder by every entry below it: path, type,
    owner, mode and content or link target), of each command in I(commands) (exit
    status and output) and the services running (systemd, or supervisord through
    I(supervisorctl)).
  - I(state=check) observes the same and compares: C(converged) is true when nothing
    differs and the receipt is younger than I(max_age_s), else C(why) names the first
    difference. I(state=absent) removes the receipt (a deploy that converges does it
    first, so one that then fails leaves none behind).
  - Check mode observes and changes nothing.
options:
  path:
    description: The receipt file.
    type: path
    required: true
  state:
    description: C(check), C(write) or C(absent).
    type: str
    choices: [check, write, absent]
    default: check
  inputs:
    description: The digest of the deploy's inputs (not needed for C(absent)).
    type: str
    default: ""
  max_age_s:
    description: A receipt older than this no longer matches (what only a converge
      does with time, such as renewing certificates, then runs).
    type: int
    default: 604800
  watch:
    description: Files and folders whose content and attributes must be unchanged.
    type: list
    elements: path
    default: []
  commands:
    description: Commands (each a list) whose exit status and output must be unchanged.
    type: list
    elements: list
    default: []
  services:
    description: Which services count (shell patterns of systemd units or supervisord
      programs); each must run now exactly when it ran at the receipt.
    type: list
    elements: str
    default: ["goalgpt-*"]
  supervisorctl:
    description: The supervisorctl command (a list) on a host that does not run systemd.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Is this host as the last deploy left it?
  goalgpt_receipt:
    path: /var/lib/goalgpt/deploy-receipt.json
    inputs: "{{ lookup('goalgpt_inputs', 'roles', 'playbooks', inventory_dir) }}"
    watch: [/etc, /var/lib/dpkg/status]
    commands: [[/usr/sbin/nft, -n, list, table, inet, goalgpt]]
  register: receipt
"""

RETURN = r"""
converged:
  description: With state=check, whether the host matches its receipt (write: true).
  type: bool
  returned: always
why:
  description: The first difference (empty when converged).
  type: str
  returned: always
"""

import fnmatch  # noqa: E402 (Ansible modules open with their documentation)
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

SYSTEMD_RUNNING = [
    "systemctl", "list-units", "--type=service", "--state=running", "--no-legend", "--plain",
]  # fmt: skip
WRITTEN_AT = "written_at"


def tree_digest(root: str) -> str:
    """SHA-256 of root and every entry below it (not following links)."""
    digest = hashlib.sha256()
    for path in _entries(root):
        digest.update(_entry(path))
    return digest.hexdigest()


def _entries(root: str) -> list[str]:
    if not os.path.isdir(root) or os.path.islink(root):
        return [root]
    found = [root]
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        found += [os.path.join(folder, name) for name in sorted(dirs + files)]
    return found


def _entry(path: str) -> bytes:
    try:
        info = os.lstat(path)
        head = (
            f"{path}\0{stat.S_IFMT(info.st_mode)}\0{info.st_mode:o}\0{info.st_uid}:{info.st_gid}\0"
        )
        if stat.S_ISLNK(info.st_mode):
            return head.encode() + os.readlink(path).encode() + b"\n"
        if stat.S_ISREG(info.st_mode):
            with open(path, "rb") as held:
                return head.encode() + hashlib.sha256(held.read()).digest() + b"\n"
        return head.encode() + b"\n"
    except FileNotFoundError:
        return f"{path}\0missing\n".encode()
    except OSError:  # it went while read (a tool's temporary file): no match, never a crash
        return f"{path}\0vanished {time.time()}\n".encode()


def command_digest(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    except FileNotFoundError:
        return "not installed"
    return hashlib.sha256(f"{done.returncode}\0".encode() + done.stdout).hexdigest()


def running_services(patterns: list[str], supervisorctl: list[str]) -> list[str]:
    """Our services running now (systemd's units, else supervisord's programs)."""
    if os.path.isdir("/run/systemd/system"):
        out = subprocess.run(SYSTEMD_RUNNING, capture_output=True, text=True).stdout
        names = [line.split()[0] for line in out.splitlines() if line.strip()]
    elif supervisorctl and os.path.exists(supervisorctl[0]):  # not before the first deploy
        # `status` exits 3 when a program is not running: read the lines.
        out = subprocess.run([*supervisorctl, "status"], capture_output=True, text=True).stdout
        fields = [line.split() for line in out.splitlines()]
        names = [f[0] for f in fields if len(f) > 1 and f[1] == "RUNNING"]
    else:
        names = []
    return sorted(n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns))


def observe(params: dict) -> dict:
    return {
        "inputs": params["inputs"],
        "watch": {path: tree_digest(path) for path in params["watch"]},
        "commands": {" ".join(argv): command_digest(argv) for argv in params["commands"]},
        "services": running_services(params["services"], params["supervisorctl"]),
    }


def difference(recorded: dict | None, now: dict, max_age_s: float) -> str:
    """The first way now differs from the receipt, or '' when it matches."""
    if recorded is None:
        return "no receipt: the first deploy here, or the last one did not finish"
    if time.time() - recorded.get(WRITTEN_AT, 0) > max_age_s:
        return f"the receipt is older than {max_age_s / 86400:g} days"
    if recorded.get("inputs") != now["inputs"]:
        return "what the deploy is made from changed (repository, inventory, secrets or -e)"
    for kind in ("watch", "commands"):
        for name, digest in now[kind].items():
            if recorded.get(kind, {}).get(name) != digest:
                return f"{name} changed since the last deploy"
    before, running = set(recorded.get("services", [])), set(now["services"])
    if before - running:
        return f"{min(before - running)} no longer running"
    if running - before:
        return f"{min(running - before)} running, which the last deploy did not leave"
    return ""


def read(path: str) -> dict | None:
    try:
        with open(path) as held:
            return json.load(held)
    except (FileNotFoundError, ValueError):
        return None


def write(path: str, receipt: dict) -> None:
    """Whole or not at all: a temporary file in the same folder, then a rename."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".receipt.")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(receipt, out, indent=1, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "state": {"type": "str", "choices": ["check", "write", "absent"], "default": "check"},
            "inputs": {"type": "str", "default": ""},
            "max_age_s": {"type": "int", "default": 604800},
            "watch": {"type": "list", "elements": "path", "default": []},
            "commands": {"type": "list", "elements": "list", "default": []},
            "services": {"type": "list", "elements": "str", "default": ["goalgpt-*"]},
            "supervisorctl": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params, path = module.params, module.params["path"]
    if params["state"] == "absent":
        existed = os.path.lexists(path)
        if existed and not module.check_mode:
            os.unlink(path)
        module.exit_json(changed=existed, converged=False, why="")
    recorded, now = read(path), observe(params)
    if params["state"] == "write":
        # Written every time: its age counts from the last converge.
        changed = {k: v for k, v in (recorded or {}).items() if k != WRITTEN_AT} != now
        if not module.check_mode:
            write(path, {**now, WRITTEN_AT: time.time()})
        module.exit_json(changed=changed, converged=True, why="")
    why = difference(recorded, now, params["max_age_s"])
    module.exit_json(changed=False, converged=not why, why=why)


if __name__ == "__main__":
    main()
