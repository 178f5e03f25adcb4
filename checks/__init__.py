"""Operator checks: capacity probe, pool-health monitor and the smoke gate."""
