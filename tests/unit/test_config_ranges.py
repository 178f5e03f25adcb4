"""Every numeric setting at the first and last value it allows, and one step past each.

The cases are generated from the bounds each field declares in `Settings`
(ge/gt/le), not copied, so a new setting is covered the day it is added and a
bound that drifts from the error message (or the message from the bound) fails.
One step is 1 for a whole number and 0.001 for a number.
"""

from __future__ import annotations

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
