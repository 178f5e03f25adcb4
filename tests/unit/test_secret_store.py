"""The controller's store of secrets (plugins/lookup/goalgpt_secret.py): generated once,
0600 in a 0700 directory, never half-written, the first writer wins."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from plugins.lookup.goalgpt_secret import ALPHABET, LENGTH, create, generate
from tests.support.paths import REPO


def test_a_generated_secret_is_long_and_safe_in_urls_env_files_and_configs():
    values = {generate() for _ in range(50)}
    assert len(values) == 50
    assert all(len(v) == LENGTH and set(v) <= set(ALPHABET) for v in values)


def test_a_secret_is_written_0600_in_a_0700_directory(tmp_path):
    path = tmp_path / "store" / "db_app"
    assert create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(path.read_text().strip()) == LENGTH


def test_an_existing_secret_is_never_replaced(tmp_path):
    path = tmp_path / "db_app"
    create(path, "first")
    assert not create(path, "second")
    assert path.read_text() == "first\n"


def test_writers_racing_agree_on_one_value_and_leave_no_scratch_file(tmp_path):
    path = tmp_path / "redis_cache"
    with ThreadPoolExecutor(8) as pool:
        written = list(pool.map(lambda i: create(path, f"value-{i}"), range(8)))
    assert written.count(True) == 1
    assert path.read_text().strip() == f"value-{written.index(True)}"
    assert os.listdir(tmp_path) == ["redis_cache"]


def test_the_store_beside_a_directory_inventory_is_not_read_as_hosts(tmp_path):
    # inventory/local is a directory and its store is inventory/local/secrets/: Ansible
    # reads every file of an inventory directory, and a secret would become a host name
    # (a second `make deploy` tried to reach each secret over SSH and printed it).
    inventory = tmp_path / "local"
    shutil.copytree(REPO / "inventory/local", inventory)
    create(inventory / "secrets" / "db_app", "a-secret-value")

    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(inventory), "--list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert listed.returncode == 0, listed.stderr
    assert "a-secret-value" not in listed.stdout + listed.stderr
    assert json.loads(listed.stdout)["_meta"]["hostvars"].keys() == {"localhost"}
