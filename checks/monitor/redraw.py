"""`--from-json FILE --report DIR`: draw an earlier live run from its --json lines."""

from __future__ import annotations

import argparse
from pathlib import Path

from checks.monitor import drawing, replay, report_file
from checks.monitor.output import EXIT_OK, Printer, failed
from checks.monitor.report_file import ReportError


def from_recording(args: argparse.Namespace) -> int:
    """--from-json FILE --report DIR: draw an earlier run from its --json lines."""
    try:
        target = report_file.check_target(Path(args.report))
        recording = replay.read(Path(args.from_json))
        report_file.write(target, drawing.renderer()(recording))
    except (replay.ReplayError, ReportError) as exc:
        return failed(exc)
    Printer(args.json).summary({"type": "report", "report": str(target)}, f"Report: {target}")
    return EXIT_OK
