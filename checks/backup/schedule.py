"""`python -m checks.backup.schedule [--at HH:MM] [--full-weekday N] -- PGBACKREST...`:
the backups on a schedule where there are no systemd timers (supervisord hosts).

What the timers do elsewhere: every day at --at (UTC) a backup, full on --full-weekday
(0 Monday .. 6 Sunday) and differential on the other days (pgBackRest makes it a full
when there is none), then pgBackRest's own expiry of what the retention no longer
keeps. A run missed while this was not running happens at start (the timers'
Persistent=): when the newest good backup is older than a day. A failed backup is one
line in the log (the alerts see the repository) and the schedule goes on. Exit 0
stopped by SIGTERM or Ctrl-C, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import FrameType

from checks.backup import info

DAY_S = 86400.0


def next_run(now: datetime, at: tuple[int, int]) -> datetime:
    """The next --at time after `now` (UTC)."""
    run = now.replace(hour=at[0], minute=at[1], second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


def kind_on(day: datetime, full_weekday: int) -> str:
    return "full" if day.weekday() == full_weekday else "diff"


def missed(command: Sequence[str], now: float) -> bool:
    """True when the newest good backup is older than a day (or there is none)."""
    try:
        newest = info.read(command).newest()
    except info.InfoError as exc:
        say(f"cannot read the repository ({exc}): taking a backup")
        return True
    return newest is None or now - newest.stopped > DAY_S


def backup(command: Sequence[str], kind: str) -> bool:
    say(f"{kind} backup starting")
    started = time.monotonic()
    done = subprocess.run([*command, f"--type={kind}", "backup"], capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines() or [f"exit {done.returncode}"]
        say(f"{kind} backup FAILED after {time.monotonic() - started:.0f}s: {last[-1]}")
        return False
    say(f"{kind} backup done in {time.monotonic() - started:.0f}s")
    return True


def say(line: str) -> None:
    print(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {line}", flush=True)


def _at(text: str) -> tuple[int, int]:
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
        raise argparse.ArgumentTypeError(f"{text!r} is not HH:MM")
    return int(hours), int(minutes)


def _weekday(text: str) -> int:
    if not (text.isdigit() and int(text) < 7):
        raise argparse.ArgumentTypeError(f"{text!r} is not a weekday 0 (Monday) to 6 (Sunday)")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m checks.backup.schedule",
        description="Take pgBackRest backups every day at --at (UTC): full on --full-weekday, "
        "differential otherwise. Exit 0 stopped by SIGTERM or Ctrl-C, 2 bad arguments.",
    )
    parser.add_argument("--at", type=_at, default=(1, 30), metavar="HH:MM")
    parser.add_argument("--full-weekday", type=_weekday, default=6, metavar="N")
    parser.add_argument("pgbackrest", nargs="+", help="pgbackrest and its options (after --)")
    args = parser.parse_args(argv)
    try:
        info.stanza_of(args.pgbackrest)
    except info.InfoError as exc:
        parser.error(str(exc))

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, stop)
    if missed(args.pgbackrest, time.time()):
        backup(args.pgbackrest, kind_on(datetime.now(UTC), args.full_weekday))
    while True:
        due = next_run(datetime.now(UTC), args.at)
        say(f"next backup at {due:%Y-%m-%dT%H:%M}Z ({kind_on(due, args.full_weekday)})")
        time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        backup(args.pgbackrest, kind_on(due, args.full_weekday))


if __name__ == "__main__":
    sys.exit(main())
