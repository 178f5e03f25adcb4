"""The store of secrets as Ansible uses it (plugins/lookup/goalgpt_secret.py and
plugins/action/goalgpt_secret_rotation.py), in real playbook runs on a scratch
inventory: a secret is made once and kept, an unknown name stops the run, a
vault-encrypted store is read through the vault and rotated encrypted, a value in
goalgpt_secret_values wins and is never rotated here, and no run shows a value."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import REPO

ANSIBLE = Path(sys.executable).parent
PLAYBOOK = """
- hosts: box
  gather_facts: false
  tasks:
    - name: Rotate first when asked
      goalgpt_secret_rotation: {name: "{{ secret }}", step: "{{ step }}"}
      when: step | default('') | length > 0
    - name: Write what the lookup gives
      ansible.builtin.copy:
        content: "{{ {'current': lookup('goalgpt_secret', secret),
                      'accepted': query('goalgpt_secret', secret, values='accepted'),
                      'newest': lookup('goalgpt_secret', secret, values='newest')} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
      no_log: true
"""


@pytest.fixture
def box(tmp_path) -> Path:
    inventory = {
        "all": {
            "hosts": {
                "box": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
            },
            "vars": {"goalgpt_secrets": {"db_app": {"what": "t"}, "other": {"what": "t"}}},
        }
    }
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    (tmp_path / "vault-pass").write_text("correct horse\n")
    return tmp_path


def run(box: Path, secret: str = "db_app", step: str = "", *args: str):
    out = box / "out.json"
    out.unlink(missing_ok=True)
    argv = [str(ANSIBLE / "ansible-playbook"), str(box / "play.yml")]
    argv += ["-i", str(box / "inventory.json"), "-e", f"secret={secret}", "-e", f"step={step}"]
    argv += ["-e", f"out={out}", "-vvv", *args]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    values = json.loads(out.read_text()) if out.exists() else None
    return done, values


def test_a_secret_is_made_once_0600_in_a_0700_store_and_never_shown(box):
    first, values = run(box)
    assert first.returncode == 0, first.stdout[-2000:]
    store = box / "secrets"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE((store / "db_app").stat().st_mode) == 0o600
    assert values["current"] == (store / "db_app").read_text().strip()
    assert values["accepted"] == [values["current"]] == [values["newest"]]
    again, same = run(box)
    assert same == values
    assert values["current"] not in first.stdout + again.stdout


def test_an_unknown_secret_stops_the_run_naming_the_known_ones(box):
    done, _ = run(box, secret="db_ap")
    assert done.returncode != 0
    assert "no secret 'db_ap' in goalgpt_secrets (db_app, other)" in done.stdout


def test_a_rotation_keeps_both_values_until_it_finishes(box):
    _, before = run(box)
    _, during = run(box, step="begin")
    assert during["current"] == before["current"] != during["newest"]
    assert during["accepted"] == [before["current"], during["newest"]]
    _, again = run(box, step="begin")  # an interrupted rotation goes on with its value
    assert again == during
    _, after = run(box, step="finish")
    assert after["current"] == during["newest"] and after["accepted"] == [after["current"]]
    assert not (box / "secrets" / "db_app.next").exists()


def test_a_vault_encrypted_store_is_read_and_rotated_encrypted(box):
    run(box)
    path = box / "secrets" / "db_app"
    plain = path.read_text().strip()
    vault = ["--vault-password-file", str(box / "vault-pass")]
    subprocess.run(
        [str(ANSIBLE / "ansible-vault"), "encrypt", str(path), *vault],
        cwd=REPO, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert path.read_text().startswith("$ANSIBLE_VAULT")
    done, values = run(box, "db_app", "", *vault)
    assert done.returncode == 0 and values["current"] == plain
    done, values = run(box, "db_app", "begin", *vault)
    assert done.returncode == 0, done.stdout[-2000:]
    assert (box / "secrets" / "db_app.next").read_text().startswith("$ANSIBLE_VAULT")
    assert values["accepted"][0] == plain and values["newest"] != plain
    without, _ = run(box)
    assert without.returncode != 0  # no vault password: the run stops


def test_a_value_from_goalgpt_secret_values_wins_and_is_not_rotated_here(box):
    given = ["-e", json.dumps({"goalgpt_secret_values": {"db_app": "from-the-vault"}})]
    done, values = run(box, "db_app", "", *given)
    assert done.returncode == 0 and values["current"] == "from-the-vault"
    refused, _ = run(box, "db_app", "begin", *given)
    assert refused.returncode != 0
    assert (
        "db_app comes from goalgpt_secret_values (ansible-vault): rotate it there" in refused.stdout
    )
