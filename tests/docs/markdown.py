"""What the docs show an operator, pulled out of the Markdown: commands, links, names.

Only the shapes these docs use: fenced ```bash blocks, inline `code`, [text](target)
links and # headings (anchors as GitHub makes them).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.M)
# How a documented command starts on a deployed host: the service environment and
# the release's venv. The test runs what follows with this checkout's venv.
HOST_PREFIXES = (
    "runuser -u goalgpt -- ",
    "/opt/goalgpt/bin/goalgpt-env ",
    "/opt/goalgpt/current/venv/bin/",
)


def pages() -> list[Path]:
    """README.md and every page under docs/."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


@dataclass(frozen=True)
class Shown:
    page: Path
    text: str

    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}: {self.text}"


def prose(text: str) -> str:
    """The page without its fenced blocks."""
    return FENCE.sub("", text)


def shell_lines(page: Path) -> list[Shown]:
    """Each command of the page's ```bash blocks, continuations joined, comment dropped."""
    found = []
    for lang, body in FENCE.findall(page.read_text()):
        if lang not in ("bash", "sh"):
            continue
        for line in body.replace("\\\n", " ").splitlines():
            command = re.split(r"\s+#\s", " " + line, maxsplit=1)[0].strip()
            if command:
                found.append(Shown(page, command))
    return found


def inline_code(page: Path) -> list[Shown]:
    return [Shown(page, span) for span in INLINE.findall(prose(page.read_text()))]


def links(page: Path) -> list[Shown]:
    return [
        Shown(page, target)
        for target in LINK.findall(prose(page.read_text()))
        if not re.match(r"[a-z]+:", target)
    ]


def anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(h) for h in HEADING.findall(prose(page.read_text()))}


def on_host_to_local(command: str) -> str:
    """Drop the deployed host's prefixes (sudo, goalgpt-env, the release's venv)."""
    changed = True
    while changed:
        changed = False
        for prefix in HOST_PREFIXES:
            if command.startswith(prefix):
                command = command[len(prefix) :]
                changed = True
    return command


def words(command: str) -> list[str]:
    try:
        return shlex.split(command)
    except ValueError:
        return command.split()


def python_module(argv: list[str]) -> tuple[str, list[str]] | None:
    """('app.jobs', ['run']) for `python -m app.jobs run watchdog [--json]`: the module
    and its subcommand, if the next word is a plain name the module's --help lists."""
    if len(argv) < 3 or not argv[0].endswith("python") or argv[1] != "-m":
        return None
    if not re.fullmatch(r"[a-z_]+(\.[a-z_]+)*", argv[2]):
        return None  # a placeholder: MODULE, app.…
    module, rest = argv[2], argv[3:]
    sub = [rest[0]] if rest and re.fullmatch(r"[a-z][a-z_]*", rest[0]) else []
    return module, sub


def options(argv: list[str]) -> list[str]:
    """The --long options a command line uses ([--json] and --x=y included)."""
    found = []
    for word in argv:
        found += re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", word)
    return found
