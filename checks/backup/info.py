"""What the repository holds: `pgbackrest ... --output=json info`, read and summed up.

`read(command)` runs pgBackRest's info (command: the program and its options up to the
command word, e.g. ["pgbackrest", "--config-path=/etc/pgbackrest", "--stanza=goalgpt"])
and returns the stanza's state: whether the repository could be read and each backup
type's newest good backup (completed, no error). The metric names live here: the
exporter writes them and checks/alert_rules.py's rules read them.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

REPOSITORY_UP = "goalgpt_backup_repository_up"
LAST_GOOD = "goalgpt_backup_last_good_timestamp_seconds"
BACKUPS = "goalgpt_backup_count"
TYPES = ("full", "diff", "incr")
# pgBackRest's stanza status codes that still mean "the repository was read".
READABLE = {0: "ok", 2: "no valid backups"}
TIMEOUT_S = 60.0


class InfoError(Exception):
    """pgbackrest info could not be run or read; one line for the operator."""


@dataclass(frozen=True)
class Backup:
    label: str
    type: str
    stopped: float  # unix time the backup completed


@dataclass(frozen=True)
class Stanza:
    name: str
    status_code: int
    status: str
    backups: tuple[Backup, ...]

    @property
    def readable(self) -> bool:
        return self.status_code in READABLE

    def newest(self, kind: str | None = None) -> Backup | None:
        """The newest good backup (of `kind`: full, diff or incr), None if there is none."""
        found = [b for b in self.backups if kind in (None, b.type)]
        return max(found, key=lambda backup: backup.stopped, default=None)


def parse(text: str, stanza: str) -> Stanza:
    """`stanza` from info's JSON; a stanza info does not list reads as "missing"."""
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise InfoError(f"pgbackrest info did not print JSON: {exc}") from None
    for entry in entries:
        if entry.get("name") == stanza:
            status = entry.get("status", {})
            backups = tuple(
                Backup(b["label"], b["type"], float(b["timestamp"]["stop"]))
                for b in entry.get("backup", [])
                if not b.get("error", False)
            )
            return Stanza(stanza, int(status.get("code", 99)), status.get("message", ""), backups)
    return Stanza(stanza, 1, "missing stanza", ())


def stanza_of(command: Sequence[str]) -> str:
    for word in command:
        if word.startswith("--stanza="):
            return word.split("=", 1)[1]
    raise InfoError("the pgbackrest command names no --stanza=NAME")


def read(command: Sequence[str], timeout_s: float = TIMEOUT_S) -> Stanza:
    """Run `command --output=json info` and read the stanza it names."""
    try:
        done = subprocess.run(
            [*command, "--output=json", "info"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InfoError(f"pgbackrest info did not run: {exc}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or [f"exit {done.returncode}"]
        raise InfoError(f"pgbackrest info failed: {lines[-1]}")
    return parse(done.stdout, stanza_of(command))
