"""docs/configuration.md is generated from the settings' own metadata (app/config/schema.py)."""

from __future__ import annotations

from app import config
from tests.support.paths import REPO


def test_the_committed_configuration_reference_is_the_generated_one():
    committed = (REPO / "docs/configuration.md").read_text(encoding="utf-8")

    assert committed == config.markdown(), "stale docs/configuration.md: run `make config-docs`"


def test_the_reference_names_every_setting_with_its_default_and_range():
    text = config.markdown()

    for name, field in config.Settings.model_fields.items():
        row = next(line for line in text.splitlines() if line.startswith(f"| `{name}` |"))
        assert field.description and field.description in row
    assert "| `DB_MAX_CONNECTIONS` | 50 | 1 to 500 |" in text
    assert "| `POOL_TIMEOUT_S` | 5 | >0 to 120 |" in text
    assert "| `MATCH_MINUTE_CRON` | `* * * * *` | cron |" in text


def test_the_summary_prints_the_variable_names_operators_set():
    text = config.format_summary(config.load({}))

    assert "  PREDICTIONS_CACHE_TTL_S = 30" in text
    assert "  JOB_LOCK_LEASE_S = 30" in text
    assert "  TTL_S = " not in text


def test_the_cli_prints_exactly_the_reference_make_config_docs_writes(capsys):
    assert config.main(["--markdown"]) == 0

    assert capsys.readouterr().out == config.markdown()
