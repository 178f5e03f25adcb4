"""Names, addresses and paths of one lab: every fact about its layout lives here."""

from __future__ import annotations

import os
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STATE_ROOT = Path("/var/lib/goalgpt-lab")
DEFAULT_CACHE_DIR = Path("/var/cache/goalgpt-lab")
PROXY_PORT = 18888

# host name -> (group, last octet of its address)
HOSTS: dict[str, tuple[str, int]] = {
    "app-1": ("app", 11),
    "app-2": ("app", 12),
    "worker-1": ("workers", 21),
    "worker-2": ("workers", 22),
    "db-1": ("db", 31),
    "redis-1": ("redis", 41),
    "mon-1": ("monitoring", 51),
}
# Groups whose hosts also belong to another: PgBouncer runs on the database host, the
# backup repository lives on mon-1 (any host but the db host; one more machine would
# cost every lab run its boot).
EXTRA_GROUPS: dict[str, tuple[str, ...]] = {"pgbouncer": ("db-1",), "backup": ("mon-1",)}


class LabError(Exception):
    """A lab operation failed; the message is one line an operator can act on."""


def lab_id_from_env() -> int:
    raw = os.environ.get("GOALGPT_LAB_ID", "0")
    if not raw.isdigit() or not 0 <= int(raw) <= 9:
        raise LabError(f"GOALGPT_LAB_ID must be a digit 0..9, got {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class LabConfig:
    """The layout of lab `lab_id`; labs with different ids never share a name or an address."""

    lab_id: int = 0
    hosts: tuple[str, ...] = tuple(HOSTS)
    build_dir: Path = REPO_ROOT / "build" / "lab"

    def __post_init__(self) -> None:
        unknown = [host for host in self.hosts if host not in HOSTS]
        if unknown:
            raise LabError(f"unknown lab host(s): {', '.join(unknown)}")

    @property
    def name(self) -> str:
        return f"goalgpt-lab{self.lab_id}"

    @property
    def bridge(self) -> str:
        return self.name

    @property
    def network(self) -> IPv4Network:
        return IPv4Network(f"10.213.{7 + self.lab_id}.0/24")

    @property
    def gateway(self) -> str:
        """The box's address on the bridge: the proxy listens here."""
        return str(self.network.network_address + 1)

    @property
    def proxy_url(self) -> str:
        return f"http://{self.gateway}:{PROXY_PORT}"

    def address(self, host: str) -> str:
        return str(self.network.network_address + HOSTS[host][1])

    def group(self, host: str) -> str:
        return HOSTS[host][0]

    def groups_of(self, host: str) -> list[str]:
        """Every inventory group of host: its own, then those of EXTRA_GROUPS."""
        return [self.group(host)] + [g for g, hosts in EXTRA_GROUPS.items() if host in hosts]

    def machine(self, host: str) -> str:
        """The nspawn machine name: it marks the host's processes in /proc."""
        return f"{self.name}-{host}"

    @property
    def state_dir(self) -> Path:
        return STATE_ROOT / str(self.lab_id)

    def host_dir(self, host: str) -> Path:
        return self.state_dir / "hosts" / host

    @property
    def cache_dir(self) -> Path:
        return Path(os.environ.get("GOALGPT_LAB_CACHE", DEFAULT_CACHE_DIR))

    @property
    def key_path(self) -> Path:
        return self.build_dir / "id_ed25519"

    @property
    def known_hosts_path(self) -> Path:
        return self.build_dir / "known_hosts"

    @property
    def inventory_path(self) -> Path:
        return self.build_dir / "inventory.yml"
