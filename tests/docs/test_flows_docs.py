"""docs/flows.md is the table of who may reach what (playbooks/group_vars/all/flows.yml),
rendered by playbooks/flows.yml on inventory/example: never edited by hand."""

from __future__ import annotations

from tests.support.deployment import run_playbook
from tests.support.paths import REPO


def test_docs_flows_md_is_the_table_as_rendered(tmp_path):
    rendered = tmp_path / "flows.md"
    run = run_playbook(
        REPO / "inventory" / "example", "flows.yml", "-e", f"flows_markdown={rendered}"
    )
    assert run.returncode == 0, run.tail()
    committed = (REPO / "docs" / "flows.md").read_text(encoding="utf-8")
    assert committed == rendered.read_text(encoding="utf-8"), (
        "stale docs/flows.md: run `make flows-docs`"
    )
