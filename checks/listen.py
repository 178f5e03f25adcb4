"""`--listen HOST:PORT` of the checks' small HTTP servers (alert log, backup exporter)."""

from __future__ import annotations

import argparse


def address(text: str) -> tuple[str, int]:
    """argparse type: HOST:PORT as (host, port), or a one-line usage error."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)
