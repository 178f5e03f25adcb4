#!/usr/bin/python
"""Ansible module: run the capacity probe (python -m checks.capacity) and return its verdict."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: goalgpt_capacity
short_description: Ask the capacity probe whether PostgreSQL can take a larger pool
description:
  - Runs C(python -m checks.capacity --json) with the service environment of the
    host (its env file and the checks' env file, so no database URL passes
    through Ansible's arguments or logs) and returns the probe's verdict as facts.
    On a deployed host the probe judges the deployment's fleet (GOALGPT_FLEET_FILE);
    I(web_processes) replaces it by that many web processes counted at their whole pool.
  - Read-only; never reports a change and runs in check mode too, so
    C(--check) still evaluates the gate.
  - Fails only when the probe could not check (its exit status 2).
options:
  python:
    description: Interpreter of the app's virtualenv (has the C(checks) package).
    type: path
    required: true
  env_file:
    description: The service env file (KEY="value" lines) the probe runs with.
    type: path
    required: true
  checks_env_file:
    description: The operator checks' env file (monitoring role URL), read after
      I(env_file) when it exists.
    type: path
  web_processes:
    description: Judge this many web processes of unknown threads (each counted at its
      whole pool) and no workers instead of the deployment's fleet.
    type: int
  pool_max:
    description: Judge this web pool max (e.g. a requested raise) instead of the current one.
    type: int
  pgbouncer_pool_size:
    description:
      - Judge this PgBouncer default pool (per database/user, on every bouncer) instead
        of the deployment's; only with PgBouncer in the fleet (raise_pool.yml
        C(-e pgbouncer_pool_size=N)).
    type: int
  thresholds:
    description: Thresholds file (default the probe's checks/thresholds.yml).
    type: path
  chdir:
    description: Directory to run the probe in.
    type: path
  timeout:
    description: Seconds before the probe is given up on.
    type: int
    default: 60
"""

EXAMPLES = r"""
- name: Probe the database
  goalgpt_capacity:
    python: /opt/goalgpt/current/venv/bin/python
    env_file: /etc/goalgpt/goalgpt.env
    checks_env_file: /etc/goalgpt/checks.env
    pool_max: 60
  register: probe

- name: Refuse when not safe, or above the recommendation (the message says why)
  ansible.builtin.fail:
    msg: "{{ probe.verdict }}: {{ probe.message or probe.probe_warnings | join(' | ') }}"
  when: not probe.safe
"""

RETURN = r"""
verdict:
  description: The probe's verdict, safe, not_safe or current_above_recommendation
    (the judged pool max is above the probe's recommendation for the fleet).
  type: str
  returned: always
demand:
  description: Connections the fleet can hold at once with the judged pool max.
  type: int
  returned: when the probe connected
usable_web_pool:
  description: Largest web pool a web process can fill (threads + refreshes); a pool
    above it cannot take effect. Null when unknown.
  type: int
  returned: when the probe connected
safe:
  description: The probe's verdict (exit 0).
  type: bool
  returned: always
recommended_pool_max:
  description: Largest per-process pool max the probe recommends (null when refused).
  type: int
  returned: always
message:
  description: Why the judged pool max is above the recommendation, in one line naming
    the recommendation and what limits it (empty unless the verdict says so).
  type: str
  returned: always
current_pool_max:
  description: DB_MAX_CONNECTIONS of the env file the probe ran with.
  type: int
  returned: when the probe connected
probe_warnings:
  description: Why it is not safe, and advice (empty when all is well). Not called
    C(warnings), which Ansible takes for its own.
  type: list
  elements: str
  returned: always
probe_exit:
  description: The probe's exit status (0 safe, 1 not safe, 3 above the recommendation).
  type: int
  returned: always
capacity:
  description: The probe's whole JSON report.
  type: dict
  returned: always
"""

import json  # noqa: E402 (Ansible modules open with their documentation)
import os  # noqa: E402
import subprocess  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402

EXIT_SAFE, EXIT_NOT_SAFE, EXIT_ABOVE = 0, 1, 3
VERDICT_EXITS = (EXIT_SAFE, EXIT_NOT_SAFE, EXIT_ABOVE)


def read_env_file(path: str) -> dict[str, str]:
    """KEY="value" lines as systemd's EnvironmentFile reads them (comments skipped)."""
    env = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#") or "=" not in line:
                continue
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip().strip('"')
    return env


def probe_argv(params: dict) -> list[str]:
    argv = [params["python"], "-m", "checks.capacity", "--json"]
    if params["web_processes"]:
        argv += ["--web-processes", str(params["web_processes"])]
    if params["pool_max"]:
        argv += ["--pool-max", str(params["pool_max"])]
    if params["pgbouncer_pool_size"]:
        argv += ["--pgbouncer-pool-size", str(params["pgbouncer_pool_size"])]
    if params["thresholds"]:
        argv += ["--thresholds", params["thresholds"]]
    return argv


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "python": {"type": "path", "required": True},
            "env_file": {"type": "path", "required": True},
            "checks_env_file": {"type": "path"},
            "web_processes": {"type": "int"},
            "pool_max": {"type": "int"},
            "pgbouncer_pool_size": {"type": "int"},
            "thresholds": {"type": "path"},
            "chdir": {"type": "path"},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    params = module.params
    for name in ("web_processes", "pool_max", "pgbouncer_pool_size"):
        if params[name] is not None and params[name] < 1:
            module.fail_json(msg=f"{name} must be 1 or more, not {params[name]}")
    try:
        env = read_env_file(params["env_file"])
        checks_env = params["checks_env_file"]
        if checks_env and os.path.exists(checks_env):
            env |= read_env_file(checks_env)
    except OSError as exc:
        module.fail_json(msg=f"cannot read the env file {exc.filename}: {exc.strerror}")
    argv = probe_argv(params)
    try:
        done = subprocess.run(
            argv,
            env=env | {"PATH": "/usr/bin:/bin"},
            cwd=params["chdir"],
            capture_output=True,
            text=True,
            timeout=params["timeout"],
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        module.fail_json(msg=f"the capacity probe did not run: {exc}", cmd=argv)
    try:
        report = json.loads(last_line(done.stdout))
    except ValueError:
        report = None
    if done.returncode not in VERDICT_EXITS or not isinstance(report, dict):
        reason = last_line(done.stderr) or last_line(done.stdout) or f"exit {done.returncode}"
        module.fail_json(
            msg=f"the capacity probe could not check: {reason}",
            probe_exit=done.returncode,
            cmd=argv,
        )
    module.exit_json(
        changed=False,
        safe=done.returncode == EXIT_SAFE and bool(report.get("safe")),
        verdict=report.get("verdict", "not_safe"),
        demand=report.get("demand"),
        usable_web_pool=report.get("usable_web_pool"),
        recommended_pool_max=report.get("recommended_pool_max"),
        message=report.get("message", ""),
        current_pool_max=report.get("current_pool_max"),
        probe_warnings=list(report.get("warnings") or []),
        capacity=report,
        # Not 'rc': Ansible fails any result whose rc is not 0.
        probe_exit=done.returncode,
    )


if __name__ == "__main__":
    main()
