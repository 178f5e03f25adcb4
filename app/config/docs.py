"""docs/configuration.md, generated from the settings' own metadata (`make config-docs`)."""

from __future__ import annotations

from typing import Any

from app.config.schema import Settings, bounds, extra, number_text


def markdown() -> str:
    """docs/configuration.md: every setting's variable, default, range and meaning."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from app/config/schema.py by `make config-docs`; "
        "edit the settings there. -->",
        "",
        "Every variable the web app, the jobs and the operator tools read from the "
        "environment (on a deployed host: the env file `/etc/goalgpt/goalgpt.env`). "
        "A bad value stops start-up with one line naming it; `python -m app.config` "
        "prints the effective values (secrets masked), grouped in these sections.",
    ]
    section = ""
    for name, field in Settings.model_fields.items():
        if extra(field)["section"] != section:
            section = extra(field)["section"]
            lines += ["", f"## {section}", "", "| variable | default | range | meaning |"]
            lines.append("| --- | --- | --- | --- |")
        lines.append(
            f"| `{name}` | {_default_text(field.default)} | {_range_text(name)} "
            f"| {field.description} |"
        )
    return "\n".join(lines) + "\n"


def _default_text(value: Any) -> str:
    return f"`{value}`" if isinstance(value, str) else number_text(value)


def _range_text(name: str) -> str:
    found = bounds(name)
    if not found:
        return extra(Settings.model_fields[name])["accepts"]
    low = f">{number_text(found['gt'])}" if "gt" in found else number_text(found["ge"])
    return f"{low} to {number_text(found['le'])}"
