"""What every `python -m app....` command shares: a reader that leaves early is no error.

`... | head` closes the pipe after the lines it wants; Python would then print
a BrokenPipeError traceback (or "Exception ignored" when flushing at exit).
`run(main)` ends quietly instead, with the exit status a shell gives a command
killed by SIGPIPE, as `cat` or `grep` would have.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn

BROKEN_PIPE_EXIT = 141  # 128 + SIGPIPE


def run(main: Callable[[], int]) -> NoReturn:
    """`sys.exit(main())`, ending quietly with BROKEN_PIPE_EXIT if stdout's reader went away."""
    try:
        try:
            code = main()
        finally:
            sys.stdout.flush()  # fail here, not at interpreter exit where it cannot be caught
    except BrokenPipeError:
        # Python flushes stdout once more at exit: give it somewhere harmless to go.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(BROKEN_PIPE_EXIT)
    sys.exit(code)
