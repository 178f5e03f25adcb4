"""PgBouncer as deployed (roles/pgbouncer), read from its own configuration on the host:
transaction mode on the service address only, SCRAM verifiers, never a password, in its
auth_file, and TLS on both of its sides."""

from __future__ import annotations

import configparser

from tests.deployed.layout import Layout
from tests.deployed.test_services import listening_addresses, needs


def settings(host, layout: Layout) -> dict[str, str]:
    """The [pgbouncer] section of the deployed pgbouncer.ini."""
    text = host.file(f"{layout.pgbouncer_conf_dir}/pgbouncer.ini").content_string
    parser = configparser.ConfigParser(comment_prefixes=(";",), interpolation=None)
    parser.read_string(text)
    return dict(parser["pgbouncer"])


def test_pgbouncer_pools_transactions_on_its_service_address_only(host, layout):
    needs(layout, "pgbouncer")
    ini = settings(host, layout)
    assert listening_addresses(host, ini["listen_port"]) == {layout.service_address}
    assert (ini["pool_mode"], ini["auth_type"], ini["server_reset_query"]) == (
        "transaction",
        "hba",
        "",
    )


def test_pgbouncer_auth_file_holds_scram_verifiers_only_unreadable_by_others(host, layout):
    needs(layout, "pgbouncer")
    auth = host.file(settings(host, layout)["auth_file"])
    entries = [line.split() for line in auth.content_string.splitlines() if line.strip()]

    assert entries, "an empty auth_file lets nobody in"
    for user, secret in entries:
        assert secret.startswith('"SCRAM-SHA-256$'), f"{user}: not a SCRAM verifier"
    assert auth.mode & 0o007 == 0


def test_pgbouncer_takes_tls_clients_only_and_verifies_postgresql(host, layout):
    needs(layout, "pgbouncer")
    ini = settings(host, layout)
    hba = host.file(ini["auth_hba_file"]).content_string
    kinds = {line.split()[0] for line in hba.splitlines() if line.strip() and line[0] != "#"}
    key = host.file(ini["client_tls_key_file"])

    assert (ini["client_tls_sslmode"], ini["server_tls_sslmode"]) == ("require", "verify-full")
    assert kinds == {"hostssl"}
    assert host.file(ini["server_tls_ca_file"]).exists
    assert host.file(ini["client_tls_cert_file"]).exists
    assert key.mode & 0o077 == 0
