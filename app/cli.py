"""What every operator command shares: endings and argument types.

Ending on a signal is one line, not a traceback:

- The reader of stdout went away (`... | head` closes the pipe after the lines
  it wants): end quietly with the status a shell gives a command killed by
  SIGPIPE, as `cat` or `grep` would (141).
- Ctrl-C: one line on stderr, status 130 (128 + SIGINT). `finally` blocks have
  run on the way out, so locks the command held are released.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import NoReturn

BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE
INTERRUPTED_EXIT = 130  # 128 + SIGINT


def run(main: Callable[[], int]) -> NoReturn:
    """`sys.exit(main())`, with the two endings above instead of tracebacks."""
    try:
        try:
            code = main()
        finally:
            sys.stdout.flush()  # fail here, not at interpreter exit where it cannot be caught
    except BrokenPipeError:
        # Python flushes stdout once more at exit: give it somewhere harmless to go.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(BROKEN_PIPE_EXIT)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED_EXIT)
    sys.exit(code)


def whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number of `minimum` or more, else a one-line error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} must be {minimum} or more")
        return value

    return parse


def positive_number(text: str) -> float:
    """An argparse type: a finite number above 0, else a one-line error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be above 0")
    return value
