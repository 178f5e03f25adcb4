"""Throwaway databases on a test PostgreSQL server."""

from __future__ import annotations

import uuid

import psycopg

from tests.support.servers import PostgresServer


def create_database(server: PostgresServer) -> str:
    """A new empty database on `server`; its name."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(server: PostgresServer, name: str) -> None:
    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
