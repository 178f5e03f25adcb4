"""Ansible filters: the table of who may reach what (playbooks/group_vars/all/flows.yml)
resolved on an inventory.

`goalgpt_firewall_rules` gives one host the listeners it serves and the addresses
allowed to reach each (its firewall is made from them); `goalgpt_flow_matrix` does
it for every host (playbooks/flows.yml: docs/flows.md and the lab's connect test).
Loopback sources are left out: a host always reaches itself (the firewall lets
loopback in), so a rule for them would only hide what is open to others.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # imported outside Ansible (tests)

    class AnsibleFilterError(Exception):  # type: ignore[no-redef]
        pass


ALL = "all"
FIELDS = {"name", "role", "what", "hosts", "port", "from", "from_networks", "when"}


def goalgpt_firewall_rules(
    flows: Sequence[Mapping[str, Any]],
    host: str,
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Sequence[str]],
    networks: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    """The listeners `host` serves, each {name, port, ipv4, ipv6} with the source
    networks allowed in; `flows` and `networks` as templated for `host`."""
    _check_table(flows, networks)
    rules = []
    for flow in flows:
        if not _serves(flow, host, groups):
            continue
        sources = _sources(flow, hostvars, groups, networks)
        if sources:
            rules.append(
                {
                    "name": str(flow["name"]),
                    "port": _port(flow),
                    "ipv4": [str(n) for n in sources if n.version == 4],
                    "ipv6": [str(n) for n in sources if n.version == 6],
                }
            )
    return rules


def goalgpt_flow_matrix(
    hosts: Iterable[str],
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    """Every host with its address and its rules (goalgpt_firewall_rules, from the
    table and networks as templated for that host)."""
    matrix = []
    for host in hosts:
        own = hostvars[host]
        rules = goalgpt_firewall_rules(
            own["goalgpt_flows"], host, hostvars, groups, own["goalgpt_flow_networks"]
        )
        matrix.append({"host": host, "address": _address(hostvars, host), "rules": rules})
    return matrix


def goalgpt_flow_allows(rules: Sequence[Mapping[str, Any]], address: str, port: int) -> bool:
    """Whether rules (of one host) let `address` in on TCP `port`."""
    source = ipaddress.ip_address(address)
    return any(
        int(rule["port"]) == int(port)
        and any(source in ipaddress.ip_network(n) for n in [*rule["ipv4"], *rule["ipv6"]])
        for rule in rules
    )


def _check_table(flows: Sequence[Mapping[str, Any]], networks: Mapping[str, Any]) -> None:
    names = [str(flow.get("name", "")) for flow in flows]
    for flow in flows:
        unknown = set(flow) - FIELDS
        if not flow.get("name") or unknown or not flow.get("hosts"):
            raise AnsibleFilterError(
                f"goalgpt_flows entry {dict(flow)!r}: needs name, hosts and port"
                + (f"; unknown fields {sorted(unknown)}" if unknown else "")
            )
        if names.count(str(flow["name"])) > 1:
            raise AnsibleFilterError(f"goalgpt_flows: {flow['name']!r} appears twice")
        missing = [n for n in flow.get("from_networks") or [] if n not in networks]
        if missing:
            raise AnsibleFilterError(
                f"goalgpt_flows entry {flow['name']!r}: no network {missing[0]!r} in "
                f"goalgpt_flow_networks ({', '.join(networks)})"
            )
        _port(flow)


def _port(flow: Mapping[str, Any]) -> int:
    try:
        port = int(flow["port"])
    except (KeyError, TypeError, ValueError):
        port = 0
    if not 0 < port < 65536:
        raise AnsibleFilterError(
            f"goalgpt_flows entry {flow['name']!r}: port {flow.get('port')!r} is not a TCP port"
        )
    return port


def _serves(flow: Mapping[str, Any], host: str, groups: Mapping[str, Sequence[str]]) -> bool:
    if not _true(flow.get("when", True)):
        return False
    return any(g == ALL or host in (groups.get(g) or []) for g in flow["hosts"])


def _true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


def _sources(
    flow: Mapping[str, Any],
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Sequence[str]],
    networks: Mapping[str, Sequence[str]],
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    given = [_address(hostvars, h) for g in flow.get("from") or [] for h in groups.get(g) or []]
    for name in flow.get("from_networks") or []:
        given += list(networks[name] or [])
    found = []
    for text in given:
        try:
            network = ipaddress.ip_network(str(text).strip(), strict=False)
        except ValueError:
            raise AnsibleFilterError(
                f"goalgpt_flows entry {flow['name']!r}: {text!r} is not an IP address or "
                "network (set goalgpt_service_address to the host's IP)"
            ) from None
        if not network.is_loopback and network not in found:
            found.append(network)
    return sorted(found, key=lambda n: (n.version, n))


def _address(hostvars: Mapping[str, Mapping[str, Any]], host: str) -> str:
    return str(hostvars[host].get("goalgpt_service_address", "127.0.0.1")).strip()


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "goalgpt_firewall_rules": goalgpt_firewall_rules,
            "goalgpt_flow_matrix": goalgpt_flow_matrix,
            "goalgpt_flow_allows": goalgpt_flow_allows,
        }
