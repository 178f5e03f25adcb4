"""Ansible lookup: one digest of everything on the controller a deploy is made from.

    lookup('goalgpt_inputs', ['roles', 'playbooks'], ansible_inventory_sources,
           release_repo=goalgpt_base_repo_dir, ignore=['goalgpt_deploy_full'])

Hashes the given files and folders (every file below a folder, by path and content;
links below a given one by their target; one missing, as missing; relative paths from
the repository), the release's payload in `release_repo` (scripts/build_release.py's
PAYLOAD; default: this repository), the run's extra vars (`-e`, as Ansible reads them, but those in
`ignore`) and ansible-core's version.
Two runs with the same digest deploy the same thing: the receipt a deploy leaves on a
host holds it (library/goalgpt_receipt.py).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ansible.module_utils.ansible_release import __version__ as ansible_version
from ansible.plugins.lookup import LookupBase
from ansible.utils.vars import load_extra_vars

DOCUMENTATION = r"""
name: goalgpt_inputs
short_description: a SHA-256 of the files, folders and extra vars a deploy is made from
options:
  _terms:
    description: Files and folders (or lists of them) to hash.
    required: true
  release_repo:
    description: The repository the release is built from (default this one).
    default: ""
  ignore:
    description: Extra vars that do not change what is deployed (how, not what).
    default: []
"""

SKIPPED = ("__pycache__", ".git", ".ruff_cache", ".pytest_cache")


class LookupModule(LookupBase):
    def run(self, terms: list[Any], variables: dict[str, Any] | None = None, **kwargs: Any):
        repo = Path(__file__).resolve().parents[2]
        release_repo = Path(kwargs.get("release_repo") or repo)
        payload = [release_repo / name for name in release_payload(repo)]
        digest = hashlib.sha256(f"ansible-core {ansible_version}\n".encode())
        for path in [(repo / term).resolve() for term in _flat(terms)] + payload:
            for name, content in _contents(path):
                # Named from the repository: a clone elsewhere deploys the same thing.
                name = name.removeprefix(f"{repo}/")
                digest.update(f"{name}\0{len(content)}\0".encode() + content)
        ignored = set(kwargs.get("ignore") or ())
        extra = {k: v for k, v in load_extra_vars(self._loader).items() if k not in ignored}
        digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
        return [digest.hexdigest()]


def release_payload(repo: Path) -> tuple[str, ...]:
    """What the release is built from: the build script's own list."""
    script = repo / "scripts" / "build_release.py"
    spec = importlib.util.spec_from_file_location("build_release", script)
    assert spec and spec.loader
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    return tuple(build.PAYLOAD)


def _flat(terms: Any) -> Iterator[str]:
    if isinstance(terms, (list, tuple)):
        for term in terms:
            yield from _flat(term)
    elif terms:
        yield str(terms)


def _contents(path: Path) -> Iterator[tuple[str, bytes]]:
    """(path, content) of path and of every file below it, in a stable order."""
    if path.is_symlink():
        yield str(path), f"-> {os.readlink(path)}".encode()
    elif path.is_file():
        yield str(path), path.read_bytes()
    elif path.is_dir():
        for child in sorted(path.iterdir()):
            if not child.name.endswith(SKIPPED) and not child.name.endswith(".pyc"):
                yield from _contents(child)
    elif not path.exists():  # the store of secrets before the first deploy makes it
        yield str(path), b"missing"
