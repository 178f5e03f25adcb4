"""Running the box's own tools (ip, mount, debootstrap...) with one-line errors."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence

_STARTED = time.monotonic()


def progress(message: str) -> None:
    """A progress line on stderr, stamped with the seconds since the command began."""
    print(f"[lab {time.monotonic() - _STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def sh(argv: Sequence[str], *, check: bool = True, timeout: float = 600) -> str:
    """Run argv, return its stdout; on failure raise LabError naming the command."""
    from tests.lab.config import LabError

    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as error:
        raise LabError(f"{argv[0]} not found: run 'scripts/ensure-lab-tools.sh'") from error
    except subprocess.TimeoutExpired as error:
        raise LabError(f"{' '.join(argv[:3])} ... did not finish in {timeout:.0f}s") from error
    if check and done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise LabError(f"{' '.join(argv[:4])} failed ({done.returncode}): {last[0]}")
    return done.stdout
