"""The certificates the servers present, as the app meets them (app/infra/tls_expiry.py):
read from a verified handshake with real PostgreSQL and Redis servers, left out when
the server cannot be verified, and read again only after the refresh interval; behind
PgBouncer, PostgreSQL's own too."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509

from app import config
from app.infra.tls_expiry import TlsExpiryCollector, endpoints, not_after
from app.web.services import _tls_urls
from tests.support.servers import PostgresServer, RedisServer


@pytest.fixture(scope="module")
def servers():
    pg = PostgresServer(tls=True).start()
    redis = RedisServer(tls=True).start()
    plain_pg = PostgresServer().start()
    yield pg, redis, plain_pg
    for server in (pg, redis, plain_pg):
        server.stop()


def cert_end(path) -> float:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.not_valid_after_utc.replace(tzinfo=dt.UTC).timestamp()


def samples(collector: TlsExpiryCollector) -> dict[str, float]:
    return {s.labels["endpoint"]: s.value for m in collector.collect() for s in m.samples}


def test_each_tls_server_shows_when_its_certificate_ends(servers):
    pg, redis, _ = servers
    found = endpoints({"postgres": pg.tls_url(), "redis": redis.tls_url})
    assert samples(TlsExpiryCollector(found)) == {
        "postgres": cert_end(pg.tls_files.cert),
        "redis": cert_end(redis.tls_files.cert),
    }


def test_plain_text_settings_are_not_endpoints(servers):
    pg, redis, _ = servers
    assert endpoints({"postgres": pg.url(), "redis": redis.url}) == []
    assert endpoints({"postgres": pg.tls_url().replace("verify-full", "require")}) == []


def test_a_server_that_cannot_be_verified_gives_no_sample(servers):
    pg, redis, plain_pg = servers
    wrong_ca = redis.tls_url.replace(str(redis.tls_files.ca), str(pg.tls_files.ca))
    no_tls = pg.tls_url().replace(f":{pg.port}/", f":{plain_pg.port}/")
    found = endpoints({"redis": wrong_ca, "postgres": no_tls})
    assert len(found) == 2
    assert samples(TlsExpiryCollector(found)) == {}


def test_the_servers_are_asked_again_only_after_the_refresh_interval(servers):
    pg, _, _ = servers
    reads = []

    def counting(endpoint):
        reads.append(endpoint.name)
        return not_after(endpoint)

    collector = TlsExpiryCollector(endpoints({"postgres": pg.tls_url()}), counting, refresh_s=3600)
    for _ in range(3):
        assert "postgres" in samples(collector)
    assert reads == ["postgres"]


def test_behind_pgbouncer_postgresql_s_own_certificate_is_watched_too(servers):
    pg, redis, _ = servers
    # DATABASE_URL names the bouncer (here another server's URL stands in for it); the
    # deployed DATABASE_SERVER_URL names PostgreSQL with no user: a handshake, no login.
    query = f"sslmode=verify-full&sslrootcert={pg.tls_files.ca}"
    server_url = f"postgresql://127.0.0.1:{pg.port}/?{query}"
    urls = {"DATABASE_URL": pg.tls_url(), "REDIS_URL": redis.tls_url}
    settings = config.load({**urls, "DATABASE_SERVER_URL": server_url})
    found = endpoints(_tls_urls(settings))

    assert samples(TlsExpiryCollector(found))["postgres_server"] == cert_end(pg.tls_files.cert)
    assert "postgres_server" not in {e.name for e in endpoints(_tls_urls(config.load({})))}
    with pytest.raises(config.ConfigError, match="DATABASE_SERVER_URL"):
        config.load({"DATABASE_SERVER_URL": "redis://127.0.0.1:6379/0"})
