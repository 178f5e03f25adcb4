"""The Lab: seven real systemd hosts on this box, reached over SSH like a fleet."""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.lab import cgroups, network
from tests.lab.config import HOSTS, STATE_ROOT, LabConfig, LabError, lab_id_from_env
from tests.lab.hosts import Host
from tests.lab.image import ensure_image
from tests.lab.inventory import (
    ensure_key,
    read_owner,
    ssh,
    write_inventory,
    write_known_hosts,
    write_owner,
)
from tests.lab.mounts import mounts_under
from tests.lab.procs import container_inits
from tests.lab.shell import progress, sh

BOOT_TIMEOUT_S = 180.0


class Lab:
    """One lab (GOALGPT_LAB_ID, default 0). Every method needs root."""

    def __init__(
        self,
        lab_id: int | None = None,
        hosts: Sequence[str] | None = None,
        build_dir: Path | None = None,
    ) -> None:
        """lab_id defaults to GOALGPT_LAB_ID; hosts and build_dir (keys, inventory) to all
        seven and build/lab of this clone. Tests use a subset for scratch labs."""
        self.config = LabConfig(
            lab_id=lab_id_from_env() if lab_id is None else lab_id,
            hosts=tuple(hosts) if hosts else tuple(HOSTS),
            build_dir=build_dir or LabConfig.build_dir,
        )
        self.hosts = {name: Host(self.config, name) for name in self.config.hosts}

    @property
    def inventory_path(self) -> Path:
        return self.config.inventory_path

    @property
    def groups(self) -> dict[str, list[str]]:
        """Inventory group -> its host names, e.g. groups["app"] == ["app-1", "app-2"]."""
        found: dict[str, list[str]] = {}
        for host in self.hosts:
            for group in self.config.groups_of(host):
                found.setdefault(group, []).append(host)
        return found

    def address(self, host: str) -> str:
        self._host(host)
        return self.config.address(host)

    def _host(self, name: str) -> Host:
        if name not in self.hosts:
            raise LabError(
                f"no host {name!r} in lab {self.config.lab_id} ({', '.join(self.hosts)})"
            )
        return self.hosts[name]

    # -- whole lab -----------------------------------------------------------

    def is_present(self) -> bool:
        """True when this lab's bridge, proxy, host overlays and inventory all exist
        (hosts may be stopped): `up` then only starts what is stopped."""
        return (
            read_owner(self.config.build_dir) == self.config.lab_id
            and self.inventory_path.exists()
            and network.bridge_exists(self.config)
            and bool(network.proxy_pids(self.config))
            and all(os.path.ismount(h.root) for h in self.hosts.values())
        )

    def is_up(self) -> bool:
        """True when the lab is present and every host runs."""
        return self.is_present() and all(
            h.system_state() in ("running", "degraded") for h in self.hosts.values()
        )

    def up(self) -> None:
        """Boot every host (in parallel) and write the inventory. On a lab already
        present it only starts the hosts that are stopped."""
        _require_root()
        started = time.monotonic()
        with self._lock():
            if self.is_present():
                progress(f"lab {self.config.lab_id} is present: starting what is stopped")
                self._each(lambda h: h.start())
                self._each(lambda h: self._wait_ready(h, not_init=None))
            else:
                self._check_build_dir_free()
                self._remove_leftovers()
                self._boot_fresh()
        progress(f"lab {self.config.lab_id} up in {time.monotonic() - started:.1f}s")

    def _boot_fresh(self) -> None:
        image = ensure_image(self.config.cache_dir)
        try:
            self._boot(image)
        except BaseException:
            progress("lab up failed: removing what it started")
            self._teardown()
            raise

    def _lock(self) -> contextlib.AbstractContextManager[None]:
        return flocked(STATE_ROOT / f"lab-{self.config.lab_id}.lock")

    def _check_build_dir_free(self) -> None:
        owner = read_owner(self.config.build_dir)
        if owner not in (None, self.config.lab_id) and Lab(owner).is_present():
            raise LabError(
                f"{self.config.build_dir} belongs to lab {owner}, which is up: "
                f"run 'GOALGPT_LAB_ID={owner} make lab-down' first or use another clone"
            )

    def _boot(self, image: Path) -> None:
        self.config.state_dir.mkdir(parents=True, exist_ok=True)
        (self.config.state_dir / "build_dir").write_text(str(self.config.build_dir))
        public_key = ensure_key(self.config)
        write_owner(self.config)
        network.create_bridge(self.config)
        network.start_proxy(self.config)
        progress(f"bridge {self.config.bridge} {self.config.gateway}, proxy on it")
        self._each(lambda h: h.prepare(image, public_key))
        write_known_hosts(self.config, {h.name: h.host_keys() for h in self.hosts.values()})
        progress(f"booting {len(self.hosts)} hosts: {', '.join(self.hosts)}")
        self._each(lambda h: h.start())
        self._each(lambda h: self._wait_ready(h, not_init=None))
        write_inventory(self.config)
        progress(f"inventory {self.inventory_path}")

    def _wait_ready(self, host: Host, not_init: int | None) -> None:
        state = host.wait_running(BOOT_TIMEOUT_S, not_init=not_init)
        deadline = time.monotonic() + 30
        while self.run(host.name, "true").returncode != 0:
            if time.monotonic() > deadline:
                raise LabError(f"{host.name} is {state} but SSH does not answer")
            time.sleep(0.5)
        progress(f"{host.name} {state} at {self.config.address(host.name)}")

    def _each(self, action: Callable[[Host], None]) -> None:
        with ThreadPoolExecutor(max_workers=len(self.hosts)) as pool:
            for future in [pool.submit(action, host) for host in self.hosts.values()]:
                future.result()

    def down(self) -> None:
        """Remove every trace of this lab: processes, mounts, bridge, proxy, keys, dirs."""
        _require_root()
        started = time.monotonic()
        with self._lock():
            self._teardown()
        progress(f"lab {self.config.lab_id} down in {time.monotonic() - started:.1f}s")

    def _remove_leftovers(self) -> None:
        if self.config.state_dir.exists() or self.leftovers():
            progress(f"removing leftovers of an earlier lab {self.config.lab_id}")
            self._teardown()

    def _teardown(self) -> None:
        """Remove everything, carrying on past a failed step; raise the first failure."""
        errors: list[LabError] = []
        # Every host of the layout, not only self.hosts: a leftover may be a bigger lab.
        every = [Host(self.config, name) for name in HOSTS]
        with ThreadPoolExecutor(max_workers=len(every)) as pool:
            futures = [pool.submit(host.remove) for host in every]
        for step in [f.result for f in futures] + [
            lambda: network.stop_proxy(self.config),
            lambda: network.delete_bridge(self.config),
            self._remove_cgroups,
            self._remove_dirs,
        ]:
            try:
                step()
            except LabError as error:
                errors.append(error)
        if errors:
            raise errors[0]

    def _remove_cgroups(self) -> None:
        for group in cgroups.lab_cgroups(self.config.name):
            cgroups.remove(group)

    def _remove_dirs(self) -> None:
        build_dirs = {self.config.build_dir}
        recorded = self.config.state_dir / "build_dir"
        if recorded.exists():
            build_dirs.add(Path(recorded.read_text().strip()))
        # Only a build dir this lab wrote: another lab id may own this clone's build/lab.
        build_dirs = {d for d in build_dirs if read_owner(d) in (None, self.config.lab_id)}
        if mounts_under(self.config.state_dir):
            raise LabError(f"still mounted: {mounts_under(self.config.state_dir)[0]}")
        for directory in [self.config.state_dir, *build_dirs]:
            if directory.exists():
                sh(["rm", "-rf", "--one-file-system", str(directory)])

    def leftovers(self) -> list[str]:
        """What of this lab still exists on the box (empty after a clean down)."""
        found = []
        for name in HOSTS:
            host = Host(self.config, name)
            pids = host.supervisor_pids() + host.nspawn_pids()
            pids += container_inits(f"{host.dir}/upper,")
            found += [f"process {pid} ({name})" for pid in pids]
        found += [f"tinyproxy {pid}" for pid in network.proxy_pids(self.config)]
        found += [f"mount {point}" for point in mounts_under(self.config.state_dir)]
        found += [f"cgroup {g}" for g in cgroups.lab_cgroups(self.config.name) if g.exists()]
        if network.bridge_exists(self.config):
            found.append(f"bridge {self.config.bridge}")
        if self.config.state_dir.exists():
            found.append(f"directory {self.config.state_dir}")
        if read_owner(self.config.build_dir) == self.config.lab_id:
            found.append(f"directory {self.config.build_dir}")
        return found

    def status(self) -> dict[str, dict[str, str]]:
        """Per host: address, group and `systemctl is-system-running` (or stopped)."""
        return {
            name: {
                "address": self.config.address(name),
                "group": self.config.group(name),
                "state": host.system_state(),
            }
            for name, host in self.hosts.items()
        }

    # -- one host ------------------------------------------------------------

    def run(
        self, host: str, command: str | Sequence[str], timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run command on host over SSH as the deploy user (sudo for root)."""
        self._host(host)
        return ssh(self.config, host, command, timeout=timeout)

    def stop(self, host: str) -> None:
        """Power host off; it stays off (no restart) until start()."""
        self._host(host).stop()

    def start(self, host: str) -> None:
        """Boot a stopped host and wait until it runs and answers SSH."""
        machine = self._host(host)
        if not machine.root.is_dir() or not os.path.ismount(machine.root):
            raise LabError(f"lab {self.config.lab_id} is not up: run 'make lab-up'")
        machine.start()
        self._wait_ready(machine, not_init=None)

    def reboot(self, host: str) -> None:
        """`systemctl reboot` inside host, then wait until it runs again after the reboot."""
        machine = self._host(host)
        old_init = machine.init_pid()
        if old_init is None:
            raise LabError(f"{host} is not running")
        # The connection drops during the reboot: its status says nothing.
        self.run(host, "sudo systemctl reboot", timeout=30)
        self._wait_ready(machine, not_init=old_init)

    def restore(self, host: str) -> None:
        """Put a host a test broke back: start it if stopped, wait until it runs."""
        machine = self._host(host)
        if machine.init_pid() is None and not machine.nspawn_pids():
            self.start(host)
        else:
            self._wait_ready(machine, not_init=None)


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (mounts, bridges, nspawn): run it as root")


@contextlib.contextmanager
def flocked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on path: one up or down of a lab at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
