"""`python -m app.config [--json | --markdown]` (app/config/command.py)."""

from app import cli
from app.config.command import main

cli.run(main)
