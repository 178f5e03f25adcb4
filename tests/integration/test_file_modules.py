"""library/goalgpt_file.py and goalgpt_dirs.py run as Ansible runs them, on real files:
they change only what differs, report it, honour check and diff mode, and never leave a
file half-written or with another mode."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from tests.support.modules import run_ansible_module


def mode_of(path: Path) -> str:
    return oct(stat.S_IMODE(path.stat().st_mode))


def write(tmp_path: Path, dest: Path, content: str, mode: str = "0640", **more: object) -> dict:
    return run_ansible_module(
        tmp_path, "goalgpt_file", dest=str(dest), content=content, mode=mode, **more
    )


def test_a_new_file_is_written_with_its_mode_then_a_rerun_changes_nothing(tmp_path: Path):
    dest = tmp_path / "app.env"
    first = write(tmp_path, dest, "A=1\n", owner="nobody")
    again = write(tmp_path, dest, "A=1\n", owner="nobody")
    assert first["changed"] and not again["changed"]
    assert first["diff"]["before"] == "" and first["diff"]["after"] == "A=1\n"
    assert "diff" not in again
    assert dest.read_text() == "A=1\n"
    assert (mode_of(dest), dest.owner()) == ("0o640", "nobody")


def test_new_content_replaces_the_file_whole_and_leaves_nothing_beside_it(tmp_path: Path):
    dest = tmp_path / "app.env"
    write(tmp_path, dest, "A=1\n")
    inode = dest.stat().st_ino
    changed = write(tmp_path, dest, "A=2\n")
    assert changed["changed"] and changed["diff"]["before"] == "A=1\n"
    assert dest.read_text() == "A=2\n" and dest.stat().st_ino != inode  # renamed over
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.env", "args.json"]


def test_only_the_mode_differing_is_a_change_of_the_mode_alone(tmp_path: Path):
    dest = tmp_path / "secret"
    write(tmp_path, dest, "s3cret\n", mode="0644")
    changed = write(tmp_path, dest, "s3cret\n", mode="0600")
    assert changed["changed"] and "diff" not in changed
    assert mode_of(dest) == "0o600"


def test_check_mode_reports_the_change_and_writes_nothing(tmp_path: Path):
    dest = tmp_path / "app.env"
    new = run_ansible_module(
        tmp_path, "goalgpt_file", check=True, dest=str(dest), content="A=1\n", mode="0600"
    )
    write(tmp_path, dest, "A=1\n", mode="0644")
    other = run_ansible_module(
        tmp_path, "goalgpt_file", check=True, dest=str(dest), content="B\n", mode="0600"
    )
    assert new["changed"] and other["changed"]
    assert other["diff"] == {**other["diff"], "before": "A=1\n", "after": "B\n"}
    assert dest.read_text() == "A=1\n" and mode_of(dest) == "0o644"


def test_content_the_validator_refuses_leaves_the_file_as_it_was(tmp_path: Path):
    dest = tmp_path / "conf.json"
    write(tmp_path, dest, '{"ok": true}\n')
    check = f"{sys.executable} -m json.tool %s"
    refused = write(tmp_path, dest, "{not json\n", validate=check)
    accepted = write(tmp_path, dest, '{"ok": false}\n', validate=check)
    assert refused["failed"] and refused["msg"].startswith(f"validate refused the new {dest}: ")
    assert "\n" not in refused["msg"].strip()
    assert accepted["changed"] and dest.read_text() == '{"ok": false}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["args.json", "conf.json"]


def test_a_missing_directory_or_a_directory_as_dest_is_one_clear_error(tmp_path: Path):
    nowhere = write(tmp_path, tmp_path / "absent" / "app.env", "A=1\n")
    directory = write(tmp_path, tmp_path, "A=1\n")
    assert nowhere["msg"] == f"the directory of {tmp_path}/absent/app.env does not exist"
    assert directory["msg"] == f"{tmp_path} is a directory"


def dirs(tmp_path: Path, paths: list[Path], check: bool = False, **args: object) -> dict:
    return run_ansible_module(
        tmp_path, "goalgpt_dirs", check, paths=[str(p) for p in paths], **args
    )


def test_directories_and_their_missing_parents_get_the_attributes_in_one_run(tmp_path: Path):
    wanted = [tmp_path / "opt", tmp_path / "deep" / "er" / "bin"]
    first = dirs(tmp_path, wanted, mode="0750", owner="nobody")
    again = dirs(tmp_path, wanted, mode="0750", owner="nobody")
    assert first["changed"] and not again["changed"] and again["created"] == []
    made = ("opt", "deep", "deep/er", "deep/er/bin")
    assert first["created"] == [str(tmp_path / p) for p in made]
    for made in map(Path, first["created"]):
        assert (mode_of(made), made.owner()) == ("0o750", "nobody")


def test_a_directory_whose_mode_differs_is_changed_and_check_mode_only_says_so(tmp_path: Path):
    path = tmp_path / "conf"
    path.mkdir(mode=0o700)
    os.chmod(path, 0o700)
    checked = dirs(tmp_path, [path, tmp_path / "new"], check=True, mode="0755")
    assert checked["changed"] and checked["created"] == [str(tmp_path / "new")]
    assert mode_of(path) == "0o700" and not (tmp_path / "new").exists()
    assert dirs(tmp_path, [path], mode="0755")["changed"] and mode_of(path) == "0o755"


def test_a_relative_path_or_a_file_in_the_way_is_one_clear_error(tmp_path: Path):
    (tmp_path / "file").write_text("")
    relative = run_ansible_module(tmp_path, "goalgpt_dirs", paths=["etc/x"], mode="0755")
    in_the_way = dirs(tmp_path, [tmp_path / "file"], mode="0755")
    assert relative["msg"] == "paths must be absolute: etc/x"
    assert in_the_way["msg"] == f"{tmp_path}/file exists and is not a directory"


def test_an_item_with_attributes_of_its_own_gets_them_the_others_the_tasks(tmp_path: Path):
    shared, own = tmp_path / "conf", tmp_path / "data"
    items = [str(shared), {"path": str(own), "owner": "nobody", "mode": "0700"}]
    first = run_ansible_module(tmp_path, "goalgpt_dirs", paths=items, mode="0755", owner="root")
    again = run_ansible_module(tmp_path, "goalgpt_dirs", paths=items, mode="0755", owner="root")
    assert first["changed"] and not again["changed"]
    assert (mode_of(shared), shared.owner()) == ("0o755", "root")
    assert (mode_of(own), own.owner()) == ("0o700", "nobody")
    os.chmod(own, 0o750)
    assert run_ansible_module(tmp_path, "goalgpt_dirs", paths=items, mode="0755", owner="root")[
        "changed"
    ]
    assert mode_of(own) == "0o700"


def test_an_item_that_is_neither_a_path_nor_a_dict_of_one_is_one_clear_error(tmp_path: Path):
    for item in ({"owner": "root"}, {"path": str(tmp_path / "x"), "size": 1}, 3):
        failed = run_ansible_module(tmp_path, "goalgpt_dirs", paths=[item], mode="0755")
        assert failed["msg"].startswith("an item of paths is a path or a dict of path,"), item
        assert not (tmp_path / "x").exists()
