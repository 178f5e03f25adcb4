#!/usr/bin/python
"""Ansible module: wait, inside one module run, until a URL answers with a status."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: goalgpt_http_wait
short_description: Wait until a URL answers an HTTP GET with the expected status
description:
  - Asks I(url) every I(interval) seconds until it answers I(status) or I(timeout)
    seconds have passed. One module run for the whole wait: a poll with C(until) and
    C(retries) starts a module on the host for every try, and answers a second late.
  - Read-only; never reports a change and runs in check mode too.
options:
  url:
    description: The URL to GET (http or https).
    type: str
    required: true
  status:
    description: The status that means ready.
    type: int
    default: 200
  timeout:
    description: Seconds to wait in all.
    type: float
    default: 60
  interval:
    description: Seconds between two tries.
    type: float
    default: 0.25
"""

EXAMPLES = r"""
- name: Wait until the web app is ready
  goalgpt_http_wait:
    url: http://10.213.7.11:8000/readyz
    timeout: 60
"""

RETURN = r"""
status:
  description: The last status the URL answered (0 when it never answered).
  type: int
  returned: always
elapsed:
  description: Seconds waited.
  type: float
  returned: always
tries:
  description: How many times the URL was asked.
  type: int
  returned: always
"""


def ask(url: str, timeout: float) -> tuple[int, str]:
    """The status the URL answers (0 when nothing answers) and why, in a few words."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.reason or ""
    except (OSError, ValueError) as error:
        return 0, str(getattr(error, "reason", error))


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "status": {"type": "int", "default": 200},
            "timeout": {"type": "float", "default": 60},
            "interval": {"type": "float", "default": 0.25},
        },
        supports_check_mode=True,
    )
    url, wanted = module.params["url"], module.params["status"]
    if not url.startswith(("http://", "https://")):
        module.fail_json(msg=f"url must be http:// or https://, got {url}")
    started = time.monotonic()
    deadline = started + module.params["timeout"]
    tries = 0
    while True:
        tries += 1
        status, why = ask(url, timeout=max(1.0, min(5.0, deadline - time.monotonic())))
        elapsed = round(time.monotonic() - started, 2)
        if status == wanted:
            module.exit_json(changed=False, status=status, elapsed=elapsed, tries=tries)
        if time.monotonic() >= deadline:
            module.fail_json(
                msg=f"{url} did not answer {wanted} within {module.params['timeout']:g} s"
                f" (last: {status or why})",
                status=status,
                elapsed=elapsed,
                tries=tries,
            )
        time.sleep(module.params["interval"])


if __name__ == "__main__":
    main()
