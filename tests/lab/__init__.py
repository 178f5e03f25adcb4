"""The fleet lab: seven systemd-nspawn hosts on this box (`python -m tests.lab --help`)."""

from tests.lab.config import LabError
from tests.lab.lab import Lab

__all__ = ["Lab", "LabError"]
