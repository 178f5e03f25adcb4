"""One validated configuration for the web app, the jobs and the operator tools.

The Python form of the original service's JOB_CONFIG plus the app settings. Every value can
be overridden from the environment; a bad value stops start-up with one line
naming the variable, the value and the allowed range. `python -m app.config`
prints the summary (secrets masked), `--json` for machines.

One job per module: `schema` (each setting, its default, range and help: edit
settings there), `loader` (environment to `Settings`, the one-line errors),
`summary` (what a host runs with, secrets masked), `docs` (docs/configuration.md),
`command` (the CLI). Import from `app.config`, not from the modules.
"""

from app.config.command import main
from app.config.docs import markdown
from app.config.loader import ConfigError, allowed_range, load, load_or_exit
from app.config.schema import EXTREME_ABOVE, Settings, bounds, extreme_warnings
from app.config.summary import SECRET_FIELDS, format_summary, mask_url, summary

__all__ = [
    "EXTREME_ABOVE",
    "SECRET_FIELDS",
    "ConfigError",
    "Settings",
    "allowed_range",
    "bounds",
    "extreme_warnings",
    "format_summary",
    "load",
    "load_or_exit",
    "main",
    "markdown",
    "mask_url",
    "summary",
]
