"""Test support: throwaway PostgreSQL and Redis servers and small helpers."""
