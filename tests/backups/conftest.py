"""A throwaway cluster archiving into a throwaway pgBackRest repository (local, as on
inventory/local), for the backup tools' tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.support.leftovers import remove_scratch, scratch_dir
from tests.support.pgbackrest import Repository


@pytest.fixture
def repository(start_postgres) -> Iterator[Repository]:
    """A cluster archiving into a repository that has its stanza, no backup yet."""
    if shutil.which("pgbackrest") is None:
        pytest.skip("pgbackrest missing: run `make servers`")
    repo = Repository(scratch_dir("pgbackrest"))
    repo.root.chmod(0o755)
    server = start_postgres(
        archive_mode="on", archive_command=repo.archive_command(), archive_timeout="60"
    )
    repo.write_config(server)
    repo.run("stanza-create")
    yield repo
    remove_scratch(repo.root)
