"""The central configuration: defaults, overrides, one-line errors, warnings."""

import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app import config
from app.config import ConfigError, Settings
from tests.support.processes import run_module

NUMERIC = {
    # name: (a good value, a value above the range, an extreme but allowed value or None)
    "DB_MAX_CONNECTIONS": ("70", "501", "150"),
    "POOL_TIMEOUT_S": ("2.5", "121", None),
    "PREDICTIONS_CACHE_TTL_S": ("60", "3601", "600"),
    "PREDICTIONS_CACHE_STALE_S": ("0", "3601", None),
    "SINGLEFLIGHT_TIMEOUT_S": ("5", "121", "60"),
    "MATCH_MINUTE_TIMEOUT_MS": ("90000", "3600001", "600000"),
    "MATCH_MINUTE_BATCH_SIZE": ("50", "10001", "1000"),
    "MAX_UPDATES_PER_TICK": ("30", "10001", "150"),
    "MATCH_WATCHDOG_TIMEOUT_MS": ("60000", "3600001", None),
    "DATA_COMPLETENESS_TIMEOUT_MS": ("60000", "3600001", None),
    "ORCHESTRATOR_LOCK_TIMEOUT_MS": ("5000", "600001", None),
    "ORCHESTRATOR_MAX_RETRIES": ("5", "21", "15"),
}
CRONS = ("MATCH_MINUTE_CRON", "MATCH_WATCHDOG_CRON", "DATA_COMPLETENESS_CRON")


def test_defaults_are_the_seeds_job_config():
    settings = config.load({})
    assert settings.MATCH_MINUTE_TIMEOUT_MS == 120_000
    assert settings.MATCH_MINUTE_BATCH_SIZE == 100
    assert settings.MAX_UPDATES_PER_TICK == 50
    assert settings.MATCH_WATCHDOG_TIMEOUT_MS == 300_000
    assert settings.ORCHESTRATOR_LOCK_TIMEOUT_MS == 10_000
    assert settings.ORCHESTRATOR_MAX_RETRIES == 3
    assert settings.MATCH_MINUTE_CRON == "* * * * *"
    assert settings.MATCH_WATCHDOG_CRON == "*/5 * * * *"
    assert settings.DB_MAX_CONNECTIONS == 50
    assert settings.PREDICTIONS_CACHE_TTL_S == 30
    assert settings.SINGLEFLIGHT_TIMEOUT_S == 10


@pytest.mark.parametrize("name", NUMERIC)
def test_a_good_value_overrides_the_default(name):
    good = NUMERIC[name][0]
    assert getattr(config.load({name: good}), name) == float(good)


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("kind", ["not a number", "negative", "zero-or-below", "above"])
def test_a_bad_value_is_one_line_naming_variable_value_and_range(name, kind):
    bad = {
        "not a number": "abc",
        "negative": "-5",
        "above": NUMERIC[name][1],
        "zero-or-below": str(_below_minimum(name)),
    }[kind]
    with pytest.raises(ConfigError) as error:
        config.load({name: bad})
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"invalid {name}={bad!r}: must be a ")
    assert " to " in message


def _below_minimum(name: str):
    field = Settings.model_fields[name]
    for metadata in field.metadata:
        if getattr(metadata, "ge", None) is not None:
            return metadata.ge - 1
        if getattr(metadata, "gt", None) is not None:
            return metadata.gt
    raise AssertionError(name)


def test_error_text_for_the_tick_cap():
    with pytest.raises(
        ConfigError,
        match=r"^invalid MAX_UPDATES_PER_TICK='0': must be a "
        r"whole number from 1 to 10000$",
    ):
        config.load({"MAX_UPDATES_PER_TICK": "0"})


def test_a_fraction_is_not_a_whole_number():
    with pytest.raises(ConfigError, match=r"MATCH_MINUTE_BATCH_SIZE='1\.5'"):
        config.load({"MATCH_MINUTE_BATCH_SIZE": "1.5"})


@pytest.mark.parametrize("name", [n for n, v in NUMERIC.items() if v[2]])
def test_an_extreme_value_loads_with_a_warning(name, caplog):
    extreme = NUMERIC[name][2]
    with caplog.at_level(logging.WARNING, logger="app.config"):
        settings = config.load({name: extreme})
    assert getattr(settings, name) == float(extreme)
    assert any(name in r.message for r in caplog.records)


def test_usual_values_log_no_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="app.config"):
        config.load({})
    assert caplog.records == []


@pytest.mark.parametrize("name", CRONS)
@pytest.mark.parametrize("bad", ["", "every minute", "* * *", "61 * * * *", "* * * * * *"])
def test_a_bad_cron_string_is_refused(name, bad):
    with pytest.raises(ConfigError, match=f"^invalid {name}="):
        config.load({name: bad})


@pytest.mark.parametrize("name", CRONS)
def test_a_good_cron_string_overrides(name):
    assert getattr(config.load({name: "*/2 * * * *"}), name) == "*/2 * * * *"


@pytest.mark.parametrize(
    ("name", "bad"),
    [("DATABASE_URL", "mysql://x/y"), ("REDIS_URL", "http://x"), ("RQ_REDIS_URL", "http://x")],
)
def test_urls_of_the_wrong_kind_are_refused(name, bad):
    with pytest.raises(ConfigError, match=f"^invalid {name}="):
        config.load({name: bad})


def test_the_tick_takes_the_smaller_of_batch_and_cap():
    settings = config.load({"MATCH_MINUTE_BATCH_SIZE": "100", "MAX_UPDATES_PER_TICK": "30"})
    assert settings.updates_per_tick == 30


@given(st.integers(min_value=1, max_value=10_000), st.integers(min_value=1, max_value=10_000))
def test_updates_per_tick_is_the_minimum_for_every_pair(batch, cap):
    settings = config.load(
        {"MATCH_MINUTE_BATCH_SIZE": str(batch), "MAX_UPDATES_PER_TICK": str(cap)}
    )
    assert settings.updates_per_tick == min(batch, cap)


@given(st.text(max_size=12))
def test_any_text_either_loads_or_fails_with_one_line(text):
    try:
        settings = config.load({"DB_MAX_CONNECTIONS": text})
    except ConfigError as error:
        assert "\n" not in str(error)
    else:
        assert 1 <= settings.DB_MAX_CONNECTIONS <= 500


def test_summary_masks_passwords():
    settings = config.load(
        {
            "DATABASE_URL": "postgresql://app:s3cret@db:5432/goalgpt",
            "REDIS_URL": "redis://:hunter2@cache:6379/0",
            "RQ_REDIS_URL": "redis://:queue-pw@queues:6380/0",
        }
    )
    text = config.format_summary(settings)
    assert "s3cret" not in text
    assert "hunter2" not in text
    assert "queue-pw" not in text
    assert "postgresql://app:***@db:5432/goalgpt" in text
    assert "RQ_REDIS_URL = redis://:***@queues:6380/0" in text


def _run_cli(*args, env=None):
    return run_module("app.config", *args, env={"PATH": "/usr/bin:/bin", **(env or {})})


def test_cli_prints_json_for_machines():
    result = _run_cli("--json", env={"MAX_UPDATES_PER_TICK": "20"})
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["MATCH_MINUTE"]["MAX_UPDATES_PER_TICK"] == 20
    assert data["MATCH_MINUTE"]["EFFECTIVE_UPDATES_PER_TICK"] == 20


def test_cli_bad_value_is_one_line_and_exit_2():
    result = _run_cli(env={"MATCH_MINUTE_TIMEOUT_MS": "soon"})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr
    assert "MATCH_MINUTE_TIMEOUT_MS='soon'" in result.stderr
