"""The table of who may reach what, resolved per host (plugins/filter/goalgpt_flows.py):
the same rules feed every host's firewall, docs/flows.md and the lab's connect test."""

from __future__ import annotations

import pytest

from plugins.filter.goalgpt_flows import (
    AnsibleFilterError,
    goalgpt_firewall_rules,
    goalgpt_flow_allows,
    goalgpt_flow_matrix,
)

GROUPS = {"app": ["app-1", "app-2"], "workers": ["worker-1"], "db": ["db-1"], "monitoring": []}
ADDRESSES = {
    "app-1": "10.0.0.11",
    "app-2": "10.0.0.12",
    "worker-1": "10.0.0.21",
    "db-1": "10.0.0.31",
}
HOSTVARS = {host: {"goalgpt_service_address": address} for host, address in ADDRESSES.items()}
NETWORKS = {"controller": ["192.0.2.0/24"], "clients": ["0.0.0.0/0", "::/0"]}
TABLE = [
    {"name": "ssh", "hosts": ["all"], "port": 22, "from_networks": ["controller"]},
    {"name": "postgresql", "hosts": ["db"], "port": "5432", "from": ["app", "workers"]},
    {"name": "exporter", "hosts": ["db"], "port": 9187, "from": ["monitoring"]},
    {"name": "web", "hosts": ["app"], "port": 8000, "from": ["app"], "from_networks": ["clients"]},
    {"name": "off", "hosts": ["db"], "port": 7000, "from": ["app"], "when": False},
]


def rules(host: str, table=TABLE, networks=NETWORKS, hostvars=HOSTVARS):
    return goalgpt_firewall_rules(table, host, hostvars, GROUPS, networks)


def test_a_host_serves_only_the_entries_of_its_groups_with_their_sources():
    clients = ["10.0.0.11/32", "10.0.0.12/32", "10.0.0.21/32"]
    assert rules("db-1") == [
        {"name": "ssh", "port": 22, "ipv4": ["192.0.2.0/24"], "ipv6": []},
        {"name": "postgresql", "port": 5432, "ipv4": clients, "ipv6": []},
    ]


def test_an_entry_whose_when_is_false_or_whose_groups_are_empty_opens_nothing():
    names = [rule["name"] for rule in rules("db-1")]
    assert "off" not in names and "exporter" not in names


def test_networks_are_split_by_family():
    web = next(rule for rule in rules("app-1") if rule["name"] == "web")
    assert web["ipv4"][0] == "0.0.0.0/0" and web["ipv6"] == ["::/0"]


def test_loopback_sources_are_left_out_so_one_box_opens_only_what_others_may_reach():
    local = {host: {"goalgpt_service_address": "127.0.0.1"} for host in ADDRESSES}
    found = rules("db-1", networks={"controller": [], "clients": []}, hostvars=local)
    assert found == []


def test_allows_is_true_inside_the_sources_and_port_only():
    db = rules("db-1")
    assert goalgpt_flow_allows(db, "10.0.0.21", 5432)
    assert not goalgpt_flow_allows(db, "10.0.0.21", 22)
    assert not goalgpt_flow_allows(db, "10.0.0.31", 5432)
    assert goalgpt_flow_allows(db, "192.0.2.255", 22)
    assert not goalgpt_flow_allows(db, "192.0.3.0", 22)


def test_the_matrix_resolves_each_host_with_its_own_table():
    hostvars = {
        host: {**vars_, "goalgpt_flows": TABLE, "goalgpt_flow_networks": NETWORKS}
        for host, vars_ in HOSTVARS.items()
    }
    matrix = goalgpt_flow_matrix(["app-1", "db-1"], hostvars, GROUPS)
    assert [(m["host"], m["address"], len(m["rules"])) for m in matrix] == [
        ("app-1", "10.0.0.11", 2),
        ("db-1", "10.0.0.31", 2),
    ]


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"name": "x", "hosts": ["db"], "port": 70000}, "is not a TCP port"),
        ({"name": "x", "hosts": ["db"], "port": "five"}, "is not a TCP port"),
        ({"name": "x", "hosts": ["db"], "port": 1, "from_networks": ["lan"]}, "no network 'lan'"),
        ({"name": "x", "hosts": ["db"], "port": 1, "form": ["app"]}, "unknown fields ['form']"),
        ({"name": "x", "port": 1}, "needs name, hosts and port"),
        ({"name": "ssh", "hosts": ["db"], "port": 2}, "'ssh' appears twice"),
    ],
)
def test_a_bad_entry_is_refused_naming_it(entry, says):
    with pytest.raises(AnsibleFilterError, match=None) as refused:
        rules("db-1", table=[*TABLE, entry])
    assert says in str(refused.value)


def test_a_host_name_where_an_address_belongs_is_refused():
    named = {**HOSTVARS, "app-1": {"goalgpt_service_address": "app-1.example.internal"}}
    with pytest.raises(AnsibleFilterError, match="not an IP address"):
        rules("db-1", hostvars=named)
