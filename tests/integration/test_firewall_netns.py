"""The firewall of inventory/local, asked for (goalgpt_firewall_enabled=true), loaded by
playbooks/firewall.yml into a network namespace this test makes, never into the
machine's own: from another namespace only the web port answers, from inside every
port answers over loopback, a second run changes nothing, and a third one puts back
a rule changed by hand. The same role and
table as on the fleet (tests/fleet/test_security.py tests those)."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.connects import connects
from tests.support.deployment import REPO, PlaybookRun, run_playbook
from tests.support.leftovers import scratch_dir

pytestmark = pytest.mark.slow

WEB_PORT = 8000  # inventory/local: goalgpt_base_web_port's default
# Every other listener of inventory/local's box: ssh, PostgreSQL, both Redis
# instances, the exporters, Prometheus, Alertmanager (their roles' defaults).
OTHER_PORTS = (22, 5432, 6379, 6380, 9121, 9122, 9187, 9090, 9093)
BOX, CLIENT = "198.18.0.1", "198.18.0.2"  # RFC 2544 addresses, inside the namespaces only
LISTEN = """
import socket, sys, time
socks = []
for port in map(int, sys.argv[2:]):  # argv[1]: the scratch dir (leftovers finds it)
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(64); socks.append(s)
print("listening", flush=True)
time.sleep(3600)
"""


@dataclass
class Namespaces:
    root: Path
    box: str
    client: str

    def run(self, namespace: str) -> list[str]:
        return ["ip", "netns", "exec", namespace, "sh", "-c"]


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    if subprocess.run(["id", "-u"], capture_output=True, text=True).stdout.strip() != "0":
        pytest.skip("network namespaces need root")
    root = scratch_dir("fw")
    tag = secrets.token_hex(3)
    made = Namespaces(root, f"{root.name}-box", f"{root.name}-client")
    listener = None
    try:
        ip("netns", "add", made.box)
        ip("netns", "add", made.client)
        # Made inside the namespaces: the machine's own network never sees them.
        ip("-n", made.box, "link", "add", f"gfb{tag}", "type", "veth", "peer", "name", f"gfc{tag}")
        ip("-n", made.box, "link", "set", f"gfc{tag}", "netns", made.client)
        for namespace, link, address in (
            (made.box, f"gfb{tag}", BOX),
            (made.client, f"gfc{tag}", CLIENT),
        ):
            ip("-n", namespace, "addr", "add", f"{address}/30", "dev", link)
            ip("-n", namespace, "link", "set", link, "up")
            ip("-n", namespace, "link", "set", "lo", "up")
        ports = [str(p) for p in (WEB_PORT, *OTHER_PORTS)]
        listener = subprocess.Popen(
            ["ip", "netns", "exec", made.box, "python3", "-c", LISTEN, str(root), *ports],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert listener.stdout.readline().strip() == "listening"
        yield made
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        for namespace in (made.box, made.client):
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)
        subprocess.run(["rm", "-rf", str(root)], check=False)


# A fresh Debian host has no /etc/protocols until a package pulls in netbase, and nft
# lists icmpv6 by name only when it is there: the first run sees none, the next one does.
WITHOUT_PROTOCOLS = (
    "unshare", "-m", "sh", "-c", 'mount --bind /dev/null /etc/protocols && exec "$@"', "sh",
)  # fmt: skip


def firewall(made: Namespaces, under: tuple[str, ...] = ()) -> PlaybookRun:
    return run_playbook(
        REPO / "inventory" / "local",
        "firewall.yml",
        "-e",
        "goalgpt_firewall_enabled=true",
        "-e",
        f"firewall_netns={made.box}",
        "-e",
        f"firewall_conf={made.root}/nftables.conf",
        timeout=600,
        under=under,
    )


def reachable(made: Namespaces, namespace: str, address: str) -> dict[int, bool]:
    ports = [WEB_PORT, *OTHER_PORTS]
    return dict(
        zip(ports, connects(made.run(namespace), [(address, p) for p in ports]), strict=True)
    )


def test_asked_for_on_one_box_it_lets_in_loopback_and_the_web_port_only(namespaces):
    before = reachable(namespaces, namespaces.client, BOX)
    assert all(before.values()), before  # the probe sees open ports when nothing filters

    first = firewall(namespaces, under=WITHOUT_PROTOCOLS)
    assert first.returncode == 0, first.tail()

    from_outside = reachable(namespaces, namespaces.client, BOX)
    assert from_outside == {WEB_PORT: True} | {p: False for p in OTHER_PORTS}, from_outside
    from_inside = reachable(namespaces, namespaces.box, "127.0.0.1")
    assert all(from_inside.values()), from_inside
    listed = subprocess.run(
        ["ip", "netns", "exec", namespaces.box, "nft", "list", "table", "inet", "goalgpt"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "policy drop" in listed and f"tcp dport {WEB_PORT}" in listed

    again = firewall(namespaces)
    assert again.returncode == 0, again.tail()
    assert again.changed() == {"localhost": 0}, again.changed_tasks()

    # A rule added by hand is drift: the next run loads the ruleset again.
    nft = ["ip", "netns", "exec", namespaces.box, "nft"]
    hand_made = [*nft, "add", "rule", "inet", "goalgpt", "input", "tcp", "dport", "22", "accept"]
    subprocess.run(hand_made, check=True, capture_output=True)
    assert reachable(namespaces, namespaces.client, BOX)[22]
    back = firewall(namespaces)
    assert back.returncode == 0, back.tail()
    (reloaded,) = back.changed_tasks()  # the ruleset file is as it was: only the load
    assert "Load it when it or the loaded table changed" in reloaded, reloaded
    assert reachable(namespaces, namespaces.client, BOX) == from_outside


def test_without_asking_the_firewall_of_one_box_stays_off(namespaces):
    run = run_playbook(
        REPO / "inventory" / "local",
        "firewall.yml",
        "-e",
        f"firewall_netns={namespaces.box}",
        "-e",
        f"firewall_conf={namespaces.root}/nftables.conf",
        timeout=600,
    )
    assert run.returncode == 0, run.tail()
    assert not (namespaces.root / "nftables.conf").exists()
    assert all(reachable(namespaces, namespaces.client, BOX).values())
