"""Fixtures of the monitoring tests."""

from __future__ import annotations

from tests.operator_checks.conftest import thresholds_file

__all__ = ["thresholds_file"]
