"""`python -m app.config`: print the effective configuration, or the reference table."""

from __future__ import annotations

import argparse
import json
import logging

from app.config.docs import markdown
from app.config.loader import load_or_exit
from app.config.schema import extreme_warnings
from app.config.summary import format_summary, summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.config",
        description="Print the effective configuration (secrets masked). "
        "Exit 0 when valid, 2 when a value is invalid.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print the reference table of every setting (docs/configuration.md) and exit",
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(), end="")
        return 0
    logging.basicConfig(level=logging.WARNING, format="warning: %(message)s")
    settings = load_or_exit()
    if args.json:
        data = summary(settings) | {"warnings": extreme_warnings(settings)}
        print(json.dumps(data, indent=2))
    else:
        print(format_summary(settings))
    return 0
