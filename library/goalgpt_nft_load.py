#!/usr/bin/python
"""Ansible module: load an nftables ruleset when it or the loaded table changed, in one run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: goalgpt_nft_load
short_description: Load a ruleset file into nftables when needed, and have it loaded at boot
description:
  - Lists the loaded table (C(nft -n list table inet TABLE)) and compares its SHA-256
    with the digest recorded at the last load (I(record)). Loads I(conf) with
    C(nft -f) when I(conf_changed) is true, when the table is missing, or when the
    table drifted from the record (someone changed it by hand), then records the
    digest of the table as now loaded.
  - With I(boot_unit), enables that systemd unit (C(nftables)) when it is not enabled.
  - On a host where nothing changed it is one module run that changes nothing.
  - Check mode reports what it would do and changes nothing.
options:
  nft:
    description: The nft command, as a list (C([ip, netns, exec, NAME, /usr/sbin/nft]) in
      a network namespace).
    type: list
    elements: str
    required: true
  table:
    description: The C(inet) table the ruleset defines.
    type: str
    required: true
  conf:
    description: The ruleset file (already checked with C(nft -c)).
    type: path
    required: true
  record:
    description: Where the digest of the table as last loaded is kept.
    type: path
    required: true
  conf_changed:
    description: The ruleset file was just written with other content.
    type: bool
    default: false
  boot_unit:
    description: A systemd unit to enable (empty for none).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Load the ruleset when it or the table changed, and at boot
  goalgpt_nft_load:
    nft: [/usr/sbin/nft]
    table: goalgpt
    conf: /etc/nftables.conf
    record: /etc/nftables.conf.loaded
    conf_changed: "{{ written is changed }}"
    boot_unit: nftables
"""

RETURN = r"""
loaded:
  description: Why the ruleset was (in check mode, would be) loaded, or null.
  type: str
  returned: always
enabled:
  description: Whether boot_unit was (would be) enabled.
  type: bool
  returned: always
"""

import hashlib  # noqa: E402 (Ansible modules open with their documentation)
import os  # noqa: E402

from ansible.module_utils.basic import AnsibleModule  # noqa: E402


def listing(module: AnsibleModule) -> str | None:
    """The table as loaded, or None when missing. Numeric (-n): the listing must not change
    when /etc/protocols appears (netbase arrives with a later role's packages on a fresh
    host, and icmpv6 would list as 58, then as ipv6-icmp)."""
    nft, table = module.params["nft"], module.params["table"]
    rc, out, _ = module.run_command([*nft, "-n", "list", "table", "inet", table])
    # Stripped as the command module strips stdout: records the role's earlier tasks
    # wrote from it stay valid, so the first run after an upgrade loads nothing.
    return out.rstrip("\r\n") if rc == 0 else None


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def recorded(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as held:
            return held.read().strip()
    except FileNotFoundError:
        return ""


def why_load(module: AnsibleModule, live: str | None) -> str | None:
    if module.params["conf_changed"]:
        return "the ruleset changed"
    if live is None:
        return "the table is not loaded"
    if digest(live) != recorded(module.params["record"]):
        return "the loaded table differs from the last load"
    return None


def load(module: AnsibleModule) -> None:
    nft, conf = module.params["nft"], module.params["conf"]
    rc, out, err = module.run_command([*nft, "-f", conf])
    if rc != 0:
        module.fail_json(msg=f"nft -f {conf} failed: {(err or out).strip()}")
    live = listing(module)
    if live is None:
        module.fail_json(msg=f"table inet {module.params['table']} missing after loading {conf}")
    record = module.params["record"]
    with open(f"{record}.new", "w", encoding="utf-8") as out_file:
        out_file.write(digest(live) + "\n")
    os.chmod(f"{record}.new", 0o644)
    os.replace(f"{record}.new", record)


def enable(module: AnsibleModule, unit: str) -> bool:
    """Enable unit unless it is; True when it was (would be) enabled."""
    rc, out, _ = module.run_command(["systemctl", "is-enabled", unit])
    if rc == 0 and out.strip() == "enabled":
        return False
    if not module.check_mode:
        rc, out, err = module.run_command(["systemctl", "enable", "--quiet", unit])
        if rc != 0:
            module.fail_json(msg=f"systemctl enable {unit} failed: {(err or out).strip()}")
    return True


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "nft": {"type": "list", "elements": "str", "required": True},
            "table": {"type": "str", "required": True},
            "conf": {"type": "path", "required": True},
            "record": {"type": "path", "required": True},
            "conf_changed": {"type": "bool", "default": False},
            "boot_unit": {"type": "str", "default": ""},
        },
        supports_check_mode=True,
    )
    reason = why_load(module, listing(module))
    if reason and not module.check_mode:
        load(module)
    unit = module.params["boot_unit"]
    enabled = enable(module, unit) if unit else False
    module.exit_json(changed=bool(reason) or enabled, loaded=reason, enabled=enabled)


if __name__ == "__main__":
    main()
