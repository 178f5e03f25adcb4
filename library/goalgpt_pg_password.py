#!/usr/bin/python
"""Ansible module: give a PostgreSQL role a password, only when it has another one."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: goalgpt_pg_password
short_description: Set a role's SCRAM password without the password leaving the module
description:
  - Reads the role's stored SCRAM-SHA-256 verifier (as the superuser, through the
    given psql command on stdin) and checks the password against it locally.
  - Only when it does not match, computes a new verifier here and sends
    C(ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'): the plain password is never on
    a command line, in an environment variable, in a statement the server could
    log, or in the module's result.
  - Supports check mode (reports the change it would make).
options:
  role:
    description: The role's name (lower-case letters, digits, underscores).
    type: str
    required: true
  password:
    description: The password the role must have.
    type: str
    required: true
    no_log: true
  psql:
    description: argv of a psql that connects as a superuser and reads SQL on stdin.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Give the app role its password
  goalgpt_pg_password:
    role: goalgpt
    password: "{{ app_password }}"
    psql: [runuser, -u, postgres, --, psql, --no-psqlrc, --tuples-only, --no-align]
  no_log: true
"""

RETURN = r"""
changed:
  description: Whether the role's password was (or, in check mode, would be) set.
  type: bool
  returned: always
"""

import base64  # noqa: E402 (Ansible modules open with their documentation)
import hashlib  # noqa: E402
import hmac  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

ITERATIONS = 4096  # PostgreSQL's scram_iterations default
ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
VERIFIER = re.compile(r"^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$")


def verifier(password: str, salt: bytes, iterations: int = ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, 7677)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    parts = (base64.b64encode(b).decode() for b in (salt, stored, server))
    salt_b64, stored_b64, server_b64 = parts
    return f"SCRAM-SHA-256${iterations}:{salt_b64}${stored_b64}:{server_b64}"


def matches(stored: str, password: str) -> bool:
    """True when `stored` (pg_authid.rolpassword) is a SCRAM verifier of `password`."""
    found = VERIFIER.match(stored)
    if not found:
        return False
    iterations, salt = int(found[1]), base64.b64decode(found[2])
    return hmac.compare_digest(verifier(password, salt, iterations), stored)


def run_sql(module: AnsibleModule, psql: list[str], sql: str) -> str:
    done = subprocess.run(psql, input=sql, capture_output=True, text=True, check=False, cwd="/")
    if done.returncode != 0:
        module.fail_json(msg=f"psql failed: {done.stderr.strip().splitlines()[-1:]}")
    return done.stdout.strip()


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "role": {"type": "str", "required": True},
            "password": {"type": "str", "required": True, "no_log": True},
            "psql": {"type": "list", "elements": "str", "required": True},
        },
        supports_check_mode=True,
    )
    role, password, psql = (module.params[k] for k in ("role", "password", "psql"))
    if not ROLE_NAME.match(role):
        module.fail_json(msg=f"role name {role!r} is not lower-case letters, digits and _")
    if not password:
        module.fail_json(msg=f"empty password for role {role}")
    found = run_sql(
        module,
        psql,
        f"SELECT 'found:' || coalesce(rolpassword, '') FROM pg_authid WHERE rolname = '{role}';\n",
    )
    if not found.startswith("found:"):
        module.fail_json(msg=f"role {role} does not exist")
    if matches(found.removeprefix("found:"), password):
        module.exit_json(changed=False)
    if not module.check_mode:
        new = verifier(password, os.urandom(16))
        run_sql(module, psql, f"ALTER ROLE \"{role}\" PASSWORD '{new}';\n")
    module.exit_json(changed=True)


if __name__ == "__main__":
    main()
