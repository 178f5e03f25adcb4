"""A connection URL names its password file, never holds the password: Redis URLs'
`password_file` becomes a credential provider read at each connect
(app/infra/redis_client.py); libpq password files are read in order during a rotation
(app/infra/pgpass.py)."""

from __future__ import annotations

from app.infra.pgpass import later_passwords
from app.infra.redis_client import FleetRedis, PasswordFile, split_password_file

URL = (
    "rediss://10.0.0.41:6379/0?ssl_ca_certs=%2Fetc%2Fgoalgpt%2Ftls%2Fca.crt&password_file=%2Fs%2Fr"
)


def test_password_file_leaves_the_url_and_becomes_a_provider():
    plain, options = split_password_file(URL)
    assert plain == "rediss://10.0.0.41:6379/0?ssl_ca_certs=%2Fetc%2Fgoalgpt%2Ftls%2Fca.crt"
    assert isinstance(options["credential_provider"], PasswordFile)
    assert options["credential_provider"].path == "/s/r"


def test_a_url_without_password_file_is_left_alone():
    assert split_password_file("redis://127.0.0.1:6379/0") == ("redis://127.0.0.1:6379/0", {})


def test_the_provider_reads_the_first_line_at_each_call(tmp_path):
    path = tmp_path / "password"
    provider = PasswordFile(str(path), username="app")
    path.write_text("first\nsecond\n")
    assert provider.get_credentials() == ("app", "first")
    path.write_text("rotated\n")
    assert provider.get_credentials() == ("app", "rotated")


def test_the_client_verifies_the_servers_certificate_with_the_ca_given(tmp_path):
    client = FleetRedis.from_url(URL)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == "/etc/goalgpt/tls/ca.crt"
    assert kwargs.get("ssl_cert_reqs", "required") == "required"
    assert "password" not in kwargs and "password_file" not in kwargs


def test_later_passwords_are_the_matching_lines_after_the_first(tmp_path):
    passfile = tmp_path / "db.pgpass"
    passfile.write_text(
        "# comment\n"
        "*:*:*:other:not-mine\n"
        "*:*:*:app:current\n"
        "10.0.0.31:5432:goalgpt:app:next\n"
        "10.0.0.99:5432:goalgpt:app:another-host\n"
        r"*:*:*:app:with\:colon" + "\n"
    )
    url = f"postgresql://app@10.0.0.31:5432/goalgpt?passfile={passfile}"
    assert later_passwords(url, {}) == ["next", "with:colon"]


def test_no_later_password_when_a_password_is_given_or_no_file(tmp_path):
    assert later_passwords("postgresql://app:pw@h/db?passfile=/nonexistent", {}) == []
    assert later_passwords("postgresql://app@h/db?passfile=/nonexistent", {}) == []
