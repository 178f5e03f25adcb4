"""The repository's passphrase comes from the controller's store of secrets
(`pgbackrest_cipher`), and a repository that holds backups is never handed another one
(its backups would become unreadable): roles/pgbackrest/tasks/cipher.yml, run by
ansible-playbook on this host against scratch directories."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.paths import REPO

STANZA = "goalgpt"


def run_cipher_tasks(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    inventory = {
        "all": {
            "hosts": {
                "repo": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": sys.executable,
                }
            },
            "children": {"db": {"hosts": {"repo": {}}}, "backup": {"hosts": {"repo": {}}}},
        }
    }
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    play = [
        {
            "name": "The cipher tasks alone",
            "hosts": "repo",
            "gather_facts": False,
            "tasks": [
                {
                    "name": "Hand the passphrase to pgBackRest",
                    "ansible.builtin.include_role": {
                        "name": "pgbackrest",
                        "tasks_from": "cipher.yml",
                    },
                }
            ],
        }
    ]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    extra = {
        "pgbackrest_repo_path": str(tmp_path / "repo"),
        "pgbackrest_conf_dir": str(tmp_path / "conf"),
        "pgbackrest_stanza": STANZA,
        "goalgpt_secrets_dir": str(tmp_path / "secrets"),
        "goalgpt_secrets": {"pgbackrest_cipher": {"what": "passphrase"}},
    }
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(tmp_path / "hosts.yml"),
            "-e",
            json.dumps(extra),
            str(tmp_path / "play.yml"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"ANSIBLE_NOCOLOR": "1"},
    )


@pytest.fixture
def repository_with_backups(tmp_path: Path) -> Path:
    """A repository holding the stanza, made with the passphrase `made-with`."""
    info = tmp_path / "repo" / "backup" / STANZA / "backup.info"
    info.parent.mkdir(parents=True)
    info.write_text("[backup:current]\n")
    (tmp_path / "conf" / "conf.d").mkdir(parents=True)
    cipher = tmp_path / "conf" / "conf.d" / "cipher.conf"
    cipher.write_text("[global]\nrepo1-cipher-pass=made-with\n")
    shutil.chown(cipher, "root", "postgres")  # as the role leaves it on the db host
    cipher.chmod(0o640)
    (tmp_path / "secrets").mkdir(mode=0o700)
    return tmp_path


def test_a_repository_with_backups_is_never_handed_another_passphrase(repository_with_backups):
    tmp_path = repository_with_backups
    (tmp_path / "secrets" / "pgbackrest_cipher").write_text("another-one\n")

    done = run_cipher_tasks(tmp_path)

    assert done.returncode != 0, done.stdout
    assert "encrypted with another" in done.stdout, done.stdout
    assert "passphrase than the store's pgbackrest_cipher" in done.stdout
    assert "another-one" not in done.stdout + done.stderr  # no_log
    assert "made-with" not in done.stdout + done.stderr
    cipher = (tmp_path / "conf" / "conf.d" / "cipher.conf").read_text()
    assert cipher == "[global]\nrepo1-cipher-pass=made-with\n"  # untouched


def test_the_stores_passphrase_for_its_repository_changes_nothing(repository_with_backups):
    tmp_path = repository_with_backups
    (tmp_path / "secrets" / "pgbackrest_cipher").write_text("made-with\n")

    done = run_cipher_tasks(tmp_path)

    assert done.returncode == 0, done.stdout
    assert "changed=0" in done.stdout, done.stdout
    assert "made-with" not in done.stdout + done.stderr


def test_a_new_repository_gets_a_generated_passphrase_from_the_store(tmp_path):
    (tmp_path / "conf" / "conf.d").mkdir(parents=True)

    done = run_cipher_tasks(tmp_path)

    assert done.returncode == 0, done.stdout
    generated = (tmp_path / "secrets" / "pgbackrest_cipher").read_text().strip()
    assert len(generated) >= 32
    cipher = (tmp_path / "conf" / "conf.d" / "cipher.conf").read_text()
    assert cipher == f"[global]\nrepo1-cipher-pass={generated}\n"
    assert generated not in done.stdout + done.stderr
