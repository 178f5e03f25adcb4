"""Every numeric setting at the first and last value it allows, and one step past each.

The cases are generated from the bounds each field declares in `Settings`
(ge/gt/le), not copied, so a new setting is covered the day it is added and a
bound that drifts from the error message (or the message from the bound) fails.
One step is 1 for a whole number and 0.001 for a number.
"""

from __future__ import annotations

import json
import logging

import pytest

from app import config
from app.config import ConfigError, Settings

STEP = {int: 1, float: 0.001}


def _bounds(name: str) -> dict[str, float]:
    found = {}
    for metadata in Settings.model_fields[name].metadata:
        for attr in ("ge", "gt", "le", "lt"):
            value = getattr(metadata, attr, None)
            if value is not None:
                found[attr] = value
    return found


NUMERIC = [name for name, f in Settings.model_fields.items() if f.annotation in STEP]


def _cases() -> list[tuple[str, str, bool]]:
    """(name, value as the environment gives it, allowed?) at both ends of every range."""
    cases = []
    for name in NUMERIC:
        step = STEP[Settings.model_fields[name].annotation]
        bounds = _bounds(name)
        if "ge" in bounds:
            cases += [(name, bounds["ge"], True), (name, bounds["ge"] - step, False)]
        else:
            cases += [(name, bounds["gt"] + step, True), (name, bounds["gt"], False)]
        cases += [(name, bounds["le"], True), (name, bounds["le"] + step, False)]
    return [(name, _text(value), ok) for name, value, ok in cases]


def _text(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def test_every_numeric_setting_declares_a_lower_and_an_upper_bound():
    assert len(NUMERIC) >= 20
    for name in NUMERIC:
        bounds = _bounds(name)
        assert ("ge" in bounds) != ("gt" in bounds), name
        assert "le" in bounds and "lt" not in bounds, name


@pytest.mark.parametrize(("name", "value", "allowed"), _cases())
def test_first_and_last_allowed_values_load_and_one_step_past_is_refused(name, value, allowed):
    if allowed:
        assert getattr(config.load({name: value}), name) == pytest.approx(float(value))
        return
    with pytest.raises(ConfigError) as refused:
        config.load({name: value})
    assert str(refused.value) == (f"invalid {name}={value!r}: must be {config.allowed_range(name)}")


@pytest.mark.parametrize("name", NUMERIC)
def test_the_message_states_the_declared_range(name):
    bounds = _bounds(name)
    low = f"above {_text(bounds['gt'])}" if "gt" in bounds else f"from {_text(bounds['ge'])}"
    kind = "a whole number" if Settings.model_fields[name].annotation is int else "a number"

    assert config.allowed_range(name) == f"{kind} {low} to {_text(bounds['le'])}"


@pytest.mark.parametrize("name", NUMERIC)
def test_the_default_lies_inside_the_declared_range(name):
    bounds = _bounds(name)
    default = Settings.model_fields[name].default

    assert bounds.get("ge", float("-inf")) <= default <= bounds["le"]
    assert default > bounds.get("gt", float("-inf"))


@pytest.mark.parametrize(("name", "threshold"), list(config.EXTREME_ABOVE.items()))
def test_extreme_warnings_start_one_step_above_their_threshold(name, threshold, caplog):
    limit = threshold[0]
    step = STEP[Settings.model_fields[name].annotation]

    assert config.extreme_warnings(config.load({name: _text(limit)})) == []
    warned = config.extreme_warnings(config.load({name: _text(limit + step)}))
    assert len(warned) == 1 and warned[0].startswith(f"{name}=")
    assert f"is above {limit}: {threshold[1]}" in warned[0]


# -- the rest of the configuration's contract --------------------------------------


def test_without_an_argument_the_process_environment_is_read(monkeypatch):
    monkeypatch.setenv("MAX_UPDATES_PER_TICK", "7")

    assert config.load().MAX_UPDATES_PER_TICK == 7


@pytest.mark.parametrize(
    ("name", "bad", "allowed"),
    [
        ("MATCH_MINUTE_CRON", "soon", "a five-field cron expression such as '*/5 * * * *'"),
        ("DATABASE_URL", "mysql://x/y", "a postgresql:// URL"),
        ("REDIS_URL", "http://x", "a redis:// URL"),
        ("GUNICORN_BIND", "nowhere", "HOST:PORT (e.g. 127.0.0.1:8000) or unix:/path/to.sock"),
    ],
)
def test_a_bad_text_setting_says_what_it_must_be(name, bad, allowed):
    with pytest.raises(ConfigError) as refused:
        config.load({name: bad})

    assert str(refused.value) == f"invalid {name}={bad!r}: must be {allowed}"


def test_a_text_settings_range_without_an_error_is_a_valid_value():
    assert config.allowed_range("MATCH_MINUTE_CRON") == "a valid value"


@pytest.mark.parametrize(
    ("bind", "ok"),
    [
        ("127.0.0.1:1", True),
        ("127.0.0.1:65535", True),
        ("127.0.0.1:0", False),
        ("127.0.0.1:65536", False),
        ("unix:/run/g.sock", True),
        (":80", True),
    ],
)
def test_the_bind_port_runs_from_1_to_65535(bind, ok):
    if ok:
        assert bind == config.load({"GUNICORN_BIND": bind}).GUNICORN_BIND
    else:
        with pytest.raises(ConfigError):
            config.load({"GUNICORN_BIND": bind})


def test_the_summary_groups_every_setting_by_its_variable_name_as_the_seeds_job_config():
    settings = config.load({"DATABASE_URL": "postgresql://app:pw@db:5432/g"})
    values = settings.model_dump()

    data = config.summary(settings)

    flat = {}
    for section, items in data.items():
        for key, value in items.items():
            flat[key] = value
            assert config.Settings.model_fields.get(key) is None or (
                config.Settings.model_fields[key].json_schema_extra["section"] == section
            )
    assert flat["DATABASE_URL"] == "postgresql://app:***@db:5432/g"
    assert flat.pop("EFFECTIVE_UPDATES_PER_TICK") == settings.updates_per_tick
    for name, value in flat.items():
        if name not in config.SECRET_FIELDS:
            assert value == values[name], name
    assert set(flat) == set(values), "every setting appears in the summary, by its own name"
    assert list(data) == [
        "APP",
        "PREDICTIONS_CACHE",
        "WEB",
        "MATCH_MINUTE",
        "MATCH_WATCHDOG",
        "DATA_COMPLETENESS",
        "ORCHESTRATOR",
        "JOBS",
        "MIGRATIONS",
    ]


def test_the_printed_summary_lists_sections_values_and_warnings():
    text = config.format_summary(config.load({"DB_MAX_CONNECTIONS": "150"}))
    lines = text.split("\n")

    assert lines[0] == "[APP]"
    assert "  DB_MAX_CONNECTIONS = 150" in lines
    assert lines[-2:] == [
        "[WARNINGS]",
        "  DB_MAX_CONNECTIONS=150 is above 100: check the database's max_connections first",
    ]
    assert "[WARNINGS]" not in config.format_summary(config.load({}))


def test_only_the_password_of_a_url_is_masked():
    assert config.mask_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert config.mask_url("postgresql://u@h/d") == "postgresql://u@h/d"


def test_the_cli_prints_the_summary_and_its_warnings(monkeypatch, capsys):
    monkeypatch.setenv("DB_MAX_CONNECTIONS", "150")

    assert config.main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["APP"]["DB_MAX_CONNECTIONS"] == 150
    assert data["warnings"] == [
        "DB_MAX_CONNECTIONS=150 is above 100: check the database's max_connections first"
    ]
    assert config.main([]) == 0
    assert capsys.readouterr().out.startswith("[APP]\n  DATABASE_URL = ")


def test_load_or_exit_stops_with_status_2_and_one_line(capsys):
    with pytest.raises(SystemExit) as stopped:
        config.load_or_exit({"DB_MAX_CONNECTIONS": "0"})

    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "config error: invalid DB_MAX_CONNECTIONS='0': must be a whole number from 1 to 500\n"
    )


def test_the_cli_help_names_the_command_its_exit_codes_and_the_json_flag(capsys):
    with pytest.raises(SystemExit) as stopped:
        config.main(["--help"])

    assert stopped.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert help_text == (
        "usage: python -m app.config [-h] [--json] [--markdown] "
        "Print the effective configuration (secrets masked). "
        "Exit 0 when valid, 2 when a value is invalid. "
        "options: -h, --help show this help message and exit "
        "--json print JSON instead of text "
        "--markdown print the reference table of every setting (docs/configuration.md) and exit"
    )


def test_the_json_summary_is_indented_for_reading(capsys):
    assert config.main(["--json"]) == 0

    assert capsys.readouterr().out.startswith('{\n  "APP": {\n    "DATABASE_URL": ')


def test_the_cli_prints_each_warning_as_one_line_on_stderr_whatever_the_logging_was(
    monkeypatch, capsys
):
    # As in a fresh `python -m app.config`: no handler on the root logger (pytest's are
    # set aside for the call), and a level that would hide warnings.
    monkeypatch.setenv("DB_MAX_CONNECTIONS", "150")
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.handlers, root.level = [], logging.ERROR
    try:
        assert config.main([]) == 0
    finally:
        root.handlers, root.level = handlers, level

    assert capsys.readouterr().err == (
        "warning: DB_MAX_CONNECTIONS=150 is above 100: check the database's max_connections first\n"
    )
