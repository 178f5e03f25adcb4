"""PgBouncer as deployed (roles/pgbouncer), read from its own configuration on the host:
transaction mode on the service address only, and SCRAM verifiers, never a password,
in its auth_file."""

from __future__ import annotations

import configparser

from tests.infra.layout import Layout
from tests.infra.test_services import needs


def settings(host, layout: Layout) -> dict[str, str]:
    """The [pgbouncer] section of the deployed pgbouncer.ini."""
    text = host.file(f"{layout.pgbouncer_conf_dir}/pgbouncer.ini").content_string
    parser = configparser.ConfigParser(comment_prefixes=(";",), interpolation=None)
    parser.read_string(text)
    return dict(parser["pgbouncer"])


def test_pgbouncer_pools_transactions_on_its_service_address_only(host, layout):
    needs(layout, "pgbouncer")
    ini = settings(host, layout)
    port = f":{ini['listen_port']}"
    listening = {
        socket.removeprefix("tcp://").removesuffix(port)
        for socket in host.socket.get_listening_sockets()
        if socket.startswith("tcp://") and socket.endswith(port)
    }

    assert listening == {layout.service_address}
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
