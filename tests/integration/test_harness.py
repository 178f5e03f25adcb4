"""The harness starts real servers, and they behave like real servers."""

import psycopg
import pytest
import redis


def test_postgres_answers_a_real_query(database_url):
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT current_database(), 6 * 7").fetchone()
    assert row[0] == database_url.rsplit("/", 1)[1]
    assert row[1] == 42


def test_postgres_is_not_the_default_port(pg_server):
    assert pg_server.port != 5432


def test_redis_answers_a_real_command(redis_url):
    client = redis.Redis.from_url(redis_url)
    client.set("harness:key", "value", ex=10)
    assert client.get("harness:key") == b"value"
    assert 0 < client.ttl("harness:key") <= 10


def test_tiny_max_connections_refuses_the_next_client(start_postgres):
    server = start_postgres(max_connections=3, superuser_reserved_connections="0")
    held = [psycopg.connect(server.url()) for _ in range(3)]
    try:
        with pytest.raises(psycopg.OperationalError) as refused:
            psycopg.connect(server.url(), connect_timeout=5)
        # While connecting, psycopg has no SQLSTATE to give (sqlstate is None);
        # the server logs it, and the harness puts it first on every log line.
        assert "too many clients" in str(refused.value)
        assert "53300 FATAL:  sorry, too many clients already" in server.log_text()
    finally:
        for conn in held:
            conn.close()
