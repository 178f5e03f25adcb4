"""Tests of the operator checks: capacity probe, monitor, thresholds, alert rules, smoke gate."""
