"""The redis host: the cache and the queue instance run with their policies and passwords,
over TLS only.

Passwords are read on the host from their root-only files into REDISCLI_AUTH inside
a shell, so they never appear on a command line or in this suite's output.
"""

from __future__ import annotations

import shlex

import pytest

from tests.deployed.layout import Layout

# The contract the app checks (app/infra/queue_redis.py) and the role writes.
INSTANCES = {
    "cache": {"maxmemory-policy": "allkeys-lru", "appendonly": "no", "appendfsync": None},
    "queue": {"maxmemory-policy": "noeviction", "appendonly": "yes", "appendfsync": "everysec"},
}


@pytest.fixture(autouse=True)
def _redis_hosts_only(layout: Layout) -> None:
    if "redis" not in layout.groups:
        pytest.skip("not in group redis")


def port(layout: Layout, instance: str) -> int:
    return layout.redis_cache_port if instance == "cache" else layout.redis_queue_port


def password_file(layout: Layout, instance: str) -> str:
    if instance == "cache":
        return layout.redis_cache_password_file
    return layout.redis_queue_password_file


def bind_address(host, layout: Layout, instance: str) -> str:
    conf = host.file(f"{layout.redis_conf_dir}/redis-{instance}.conf").content_string
    (line,) = [line for line in conf.splitlines() if line.startswith("bind ")]
    return line.split()[1]


def redis_cli(host, layout: Layout, instance: str, *args: str, auth: bool = True, tls=True):
    address = bind_address(host, layout, instance)
    tls_args = ["--tls", "--cacert", layout.ca_file] if tls else []
    where = ["-h", address, "-p", str(port(layout, instance))]
    command = shlex.join(["redis-cli", "--no-auth-warning", *tls_args, *where, *args])
    if auth:
        secret = shlex.quote(password_file(layout, instance))
        command = f'REDISCLI_AUTH="$(head -n 1 {secret})" {command}'
    return host.run(f"sh -c {shlex.quote(command)}")


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_the_instance_listens_on_the_service_address_only(host, layout, instance):
    address = bind_address(host, layout, instance)
    assert host.socket(f"tcp://{address}:{port(layout, instance)}").is_listening
    assert address not in ("0.0.0.0", "*", "::")


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_the_instance_runs_with_its_policy(host, layout, instance):
    for setting, expected in INSTANCES[instance].items():
        if expected is None:
            continue
        answer = redis_cli(host, layout, instance, "config", "get", setting)
        assert answer.rc == 0, answer.stderr
        assert answer.stdout.split() == [setting, expected]


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_the_instance_refuses_a_client_without_its_password(host, layout, instance):
    answer = redis_cli(host, layout, instance, "ping", auth=False)
    assert "NOAUTH" in answer.stdout + answer.stderr
    assert redis_cli(host, layout, instance, "ping").stdout.strip() == "PONG"


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_the_instance_refuses_plain_text_even_with_its_password(host, layout, instance):
    answer = redis_cli(host, layout, instance, "ping", tls=False)
    assert "PONG" not in answer.stdout, answer.stdout


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_the_password_file_is_root_only(host, layout, instance):
    secret = host.file(password_file(layout, instance))
    assert secret.is_file
    assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600)


def test_the_queue_instance_has_a_maxmemory_to_alert_before(host, layout):
    answer = redis_cli(host, layout, "queue", "config", "get", "maxmemory")
    assert int(answer.stdout.split()[1]) > 0
