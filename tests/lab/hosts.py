"""One lab host: its overlay root, its boot-time files, and the nspawn process that runs it.

Each host runs `systemd-nspawn -b` under a small supervisor loop: a `systemctl reboot`
inside ends nspawn with status 133, and the loop starts it again; any other end (a
poweroff, or `stop`) ends the loop. The loop's $0 and nspawn's --machine= carry the
machine name, so both are found in /proc even when the lab's state dir is gone.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

from tests.lab.cgroups import host_cgroups, lab_cgroups
from tests.lab.cgroups import remove as remove_cgroup
from tests.lab.config import LabConfig, LabError
from tests.lab.mounts import mounts_under, unmount_under
from tests.lab.procs import container_inits, find_processes, kill_all, wait_gone
from tests.lab.shell import sh

REBOOT_STATUS = 133
# Where nspawn keeps per-machine mounts; a SIGKILLed nspawn leaves them behind, and the
# next start of the same machine refuses to remove them ("Attempted to remove disk file
# system under ..."), so the lab clears them itself before every start.
NSPAWN_RUNTIME_DIRS = (
    Path("/run/systemd/nspawn/propagate"),
    Path("/run/systemd/nspawn/unix-export"),
)
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

_SUPERVISOR = """\
stop_flag=$1; cgroups=$2; shift 2
for group in $cgroups; do echo $$ > "$group/cgroup.procs" || exit 1; done
while :; do
    "$@"
    status=$?
    echo "lab: nspawn ended with status $status" >&2
    if [ -e "$stop_flag" ] || [ "$status" -ne 133 ]; then exit "$status"; fi
done
"""


class Host:
    def __init__(self, config: LabConfig, name: str) -> None:
        self.config = config
        self.name = name
        self.dir = config.host_dir(name)
        self.root = self.dir / "root"

    # -- the root filesystem -------------------------------------------------

    def prepare(self, image: Path, public_key: str) -> None:
        """Mount a fresh overlay over the image and write this host's own files."""
        for sub in ("upper", "work", "root"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        options = f"lowerdir={image},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}"
        sh(["mount", "-t", "overlay", "overlay", "-o", options, str(self.root)])
        self._write_identity()
        self._write_network()
        self._write_proxy()
        self._write_login(public_key)

    def _write(self, path: str, text: str, mode: int = 0o644) -> Path:
        target = self.root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        target.chmod(mode)
        return target

    def _write_identity(self) -> None:
        self._write("/etc/hostname", f"{self.name}\n")
        lines = ["127.0.0.1 localhost", f"127.0.1.1 {self.name}", "::1 localhost"]
        lines += [f"{self.config.address(h)} {h}" for h in self.config.hosts]
        self._write("/etc/hosts", "\n".join(lines) + "\n")
        # Host keys of its own, generated now rather than baked into the shared image.
        sh(["ssh-keygen", "-A", "-f", str(self.root)])

    def host_keys(self) -> list[str]:
        """The public host keys generated for this host (one line per key type)."""
        found = sorted((self.root / "etc/ssh").glob("ssh_host_*_key.pub"))
        return [path.read_text().strip() for path in found]

    def _write_network(self) -> None:
        # Sorts before the image's 80-container-host0.network, whose link-local
        # default would win otherwise. No Gateway=: nothing routes out of the lab.
        self._write(
            "/etc/systemd/network/10-host0.network",
            "[Match]\nName=host0\n\n[Network]\n"
            f"Address={self.config.address(self.name)}/{self.config.network.prefixlen}\n"
            "LinkLocalAddressing=no\nIPv6AcceptRA=no\n",
        )

    def _write_proxy(self) -> None:
        proxy = self.config.proxy_url
        self._write(
            "/etc/apt/apt.conf.d/90goalgpt-lab-proxy",
            f'Acquire::http::Proxy "{proxy}";\nAcquire::https::Proxy "{proxy}";\n',
        )
        self._write(
            "/etc/pip.conf",
            f"[global]\nproxy = {proxy}\ncert = {CA_BUNDLE}\n",
        )
        self._write(
            "/etc/environment",
            f"http_proxy={proxy}\nhttps_proxy={proxy}\nHTTP_PROXY={proxy}\nHTTPS_PROXY={proxy}\n"
            f"no_proxy={','.join(self._no_proxy())}\n"
            f"NO_PROXY={','.join(self._no_proxy())}\n",
        )
        # The box's bundle (which trusts its TLS-inspecting egress), also kept where
        # update-ca-certificates finds it if a role installs ca-certificates later.
        bundle = CA_BUNDLE.read_text()
        self._write(str(CA_BUNDLE), bundle)
        self._write("/usr/local/share/ca-certificates/goalgpt-lab-box.crt", bundle)

    def _no_proxy(self) -> list[str]:
        # Every lab host by name and address: Python's urllib (Ansible's uri module)
        # ignores a CIDR entry, so the subnet alone would send lab traffic to the proxy.
        hosts = [name for host in self.config.hosts for name in (host, self.config.address(host))]
        return ["localhost", "127.0.0.1", *hosts, str(self.config.network)]

    def _write_login(self, public_key: str) -> None:
        keys = self._write("/home/deploy/.ssh/authorized_keys", public_key, mode=0o600)
        home = self.root / "home/deploy"
        owner = (home.stat().st_uid, home.stat().st_gid)
        shutil.chown(keys, *owner)

    # -- the running machine -------------------------------------------------

    @property
    def machine(self) -> str:
        return self.config.machine(self.name)

    @property
    def _stop_flag(self) -> Path:
        return self.dir / "stopped"

    def start(self) -> None:
        """Boot the host under its supervisor loop (returns at once; see wait_running)."""
        if self.nspawn_pids():
            return
        self._clear_nspawn_leftovers()
        self._stop_flag.unlink(missing_ok=True)
        console = (self.dir / "console.log").open("a")
        nspawn = [
            "systemd-nspawn",
            f"--directory={self.root}",
            f"--machine={self.machine}",
            f"--hostname={self.name}",
            "--register=no",
            "--keep-unit",
            "--console=passive",
            f"--network-bridge={self.config.bridge}",
            "--resolv-conf=off",
            "--timezone=off",
            "--link-journal=no",
            "--boot",
        ]
        cgroups = " ".join(map(str, host_cgroups(self.config.name, self.name)))
        argv = ["setsid", "-f", "bash", "-c", _SUPERVISOR, self._marker, str(self._stop_flag)]
        argv.append(cgroups)
        subprocess.run(
            [*argv, *nspawn],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            check=True,
        )

    def _clear_nspawn_leftovers(self) -> None:
        for base in NSPAWN_RUNTIME_DIRS:
            leftover = base / self.machine
            unmount_under(leftover)
            if leftover.exists():
                sh(["rm", "-rf", "--one-file-system", str(leftover)])

    @property
    def _marker(self) -> str:
        return f"{self.machine}-supervisor"

    def supervisor_pids(self) -> list[int]:
        # The marker is bash's $0 (argv[3]); until `setsid -f` has exec'd bash, the
        # forked child still shows setsid's argv (marker at argv[5]). Both count: a
        # host that start() just launched is never taken for one that stopped.
        return [p.pid for p in find_processes() if self._marker in p.argv[:6]]

    def nspawn_pids(self) -> list[int]:
        flag = f"--machine={self.machine}"
        return [
            p.pid for p in find_processes() if p.argv[:1] == ["systemd-nspawn"] and flag in p.argv
        ]

    def init_pid(self) -> int | None:
        """The host pid of the container's systemd (PID 1 inside), if it runs."""
        pids = container_inits(f"{self.dir}/upper,")
        return pids[0] if pids else None

    def inside(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run argv in the host's namespaces (lab plumbing only; Ansible uses SSH)."""
        pid = self.init_pid()
        if pid is None:
            raise LabError(f"{self.name} is not running")
        return subprocess.run(
            ["nsenter", "-t", str(pid), "-a", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def system_state(self) -> str:
        """`systemctl is-system-running` inside, or 'stopped' / 'starting'."""
        if self.init_pid() is None:
            return "stopped" if not self.nspawn_pids() else "starting"
        try:
            out = self.inside("systemctl", "is-system-running", timeout=10).stdout.strip()
        except subprocess.TimeoutExpired:
            return "starting"
        return out or "starting"

    def wait_running(self, timeout: float = 120, not_init: int | None = None) -> str:
        """Wait until systemd inside says running or degraded; not_init skips an old boot."""
        deadline = time.monotonic() + timeout
        state = "stopped"
        while time.monotonic() < deadline:
            pid = self.init_pid()
            if pid is not None and pid != not_init:
                state = self.system_state()
                if state in ("running", "degraded"):
                    return state
            elif not self.supervisor_pids() and not self.nspawn_pids():
                raise LabError(f"{self.name} stopped while booting: {self.console_tail()}")
            time.sleep(0.5)
        raise LabError(f"{self.name} not running after {timeout:.0f}s (state {state})")

    def console_tail(self) -> str:
        try:
            lines = (self.dir / "console.log").read_text(errors="replace").splitlines()
        except OSError:
            return "no console log"
        return " | ".join(line.strip() for line in lines[-3:])

    def stop(self, timeout: float = 60) -> None:
        """Power the host off cleanly (SIGTERM to nspawn), then make sure it is gone."""
        if self.dir.is_dir():
            self._stop_flag.touch()
        kill_all(self.nspawn_pids(), signal.SIGTERM)
        left = wait_gone(self.supervisor_pids() + self.nspawn_pids(), timeout)
        if left:
            self.kill()

    def kill(self) -> None:
        """Remove every process of this host at once, whatever state it is in."""
        kill_all(self.supervisor_pids())
        kill_all(container_inits(f"{self.dir}/upper,"))
        kill_all(self.nspawn_pids())
        left = wait_gone(self.supervisor_pids() + self.nspawn_pids(), 10)
        if left:
            raise LabError(f"{self.name}: processes {left} survived SIGKILL")
        for group in lab_cgroups(self.config.name):
            remove_cgroup(group / self.name)
        self._clear_nspawn_leftovers()

    def remove(self) -> None:
        """Kill the host, unmount its overlay and delete its directory."""
        self.kill()
        unmount_under(self.dir)
        if mounts_under(self.dir):
            raise LabError(f"{self.name}: cannot unmount {mounts_under(self.dir)[0]}")
        if self.dir.exists():
            sh(["rm", "-rf", "--one-file-system", str(self.dir)])
