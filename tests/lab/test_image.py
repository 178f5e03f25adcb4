"""The image cache: keyed on what goes into the image, never serving a half build."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.lab import image
from tests.lab.mounts import mounts_under

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


def test_the_key_changes_with_the_setup_script(tmp_path: Path, monkeypatch) -> None:
    before = image.image_key()
    script = tmp_path / "image-setup.sh"
    script.write_text(image.SETUP_SCRIPT.read_text() + "\ntrue\n")
    monkeypatch.setattr(image, "SETUP_SCRIPT", script)
    assert image.image_key() != before


def test_a_killed_build_is_removed_with_its_mounts_and_never_used(
    tmp_path: Path, monkeypatch
) -> None:
    # What a killed debootstrap leaves: a scratch dir with /proc still mounted inside.
    scratch = tmp_path / f".building-image-{image.image_key()}-4242"
    (scratch / "proc").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(scratch / "proc")], check=True)
    built: list[Path] = []
    monkeypatch.setattr(image, "_build", lambda final: built.append(final) or final.mkdir())

    result = image.ensure_image(tmp_path)

    assert built == [tmp_path / f"image-{image.image_key()}"] == [result]
    assert not scratch.exists()
    assert mounts_under(tmp_path) == []


def test_a_complete_image_is_reused_without_building(tmp_path: Path, monkeypatch) -> None:
    final = tmp_path / f"image-{image.image_key()}"
    final.mkdir()
    monkeypatch.setattr(image, "_build", lambda final: pytest.fail("built again"))
    assert image.ensure_image(tmp_path) == final


def test_a_new_build_removes_older_images_no_host_uses(tmp_path: Path, monkeypatch) -> None:
    older = tmp_path / "image-0000000000000000"
    (older / "etc").mkdir(parents=True)
    monkeypatch.setattr(image, "_build", lambda final: final.mkdir())
    image.ensure_image(tmp_path)
    assert not older.exists()


def test_an_older_image_a_running_host_uses_is_kept(tmp_path: Path, monkeypatch) -> None:
    older = tmp_path / "image-0000000000000000"
    for sub in ("image-0000000000000000", "upper", "work", "root"):
        (tmp_path / sub).mkdir()
    options = f"lowerdir={older},upperdir={tmp_path / 'upper'},workdir={tmp_path / 'work'}"
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(tmp_path / "root")], check=True
    )
    try:
        monkeypatch.setattr(image, "_build", lambda final: final.mkdir())
        image.ensure_image(tmp_path)
        assert older.is_dir()
    finally:
        subprocess.run(["umount", str(tmp_path / "root")], check=True)
