"""`--report DIR`: refuse an unusable DIR before any work, draw the run's page at its end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from checks.monitor import report_file
from checks.monitor.report_file import ReportError
from checks.monitor.timeline import Recording


def target(report_dir: str | None) -> Path | None:
    """Where --report writes, refused before any work if it cannot be written or drawn."""
    if report_dir is None:
        return None
    checked = report_file.check_target(Path(report_dir))
    renderer()
    return checked


def renderer() -> Callable[[Recording], str]:
    """The page's renderer; matplotlib is there only with the project's `report` extra."""
    try:  # imported here: the hosts' service venv runs the monitor without matplotlib
        from checks.monitor import html_report
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        raise ReportError(
            "--report needs matplotlib, which this Python lacks: install the project's "
            "`report` extra (pip install -c constraints.txt '.[report]'; make venv does)"
        ) from None
    return html_report.render


def draw(to: Path | None, recording: Recording) -> str | None:
    """Write the report when asked (the summary then names it); None, or why it failed."""
    if to is None:
        return None
    try:
        report_file.write(to, renderer()(recording))
    except ReportError as exc:
        return str(exc)
    recording.summary["report"] = str(to)
    return None
