"""What every `python -m app....` command shares: ending on a signal is one line, not a traceback.

- The reader of stdout went away (`... | head` closes the pipe after the lines
  it wants): end quietly with the status a shell gives a command killed by
  SIGPIPE, as `cat` or `grep` would (141).
- Ctrl-C: one line on stderr, status 130 (128 + SIGINT). `finally` blocks have
  run on the way out, so locks the command held are released.
"""

from __future__ import annotations

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
