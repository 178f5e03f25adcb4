"""Build a release once, on the controller: the app's wheel and a wheelhouse of its pinned
production dependencies, packed with a release.json into build/releases/<version>/release.tar.

The version is a hash of the deployed files (app/, checks/, pyproject.toml,
constraints.txt), so the same tree is the same release: a second deploy of an
unchanged checkout builds nothing and changes nothing on the hosts. Hosts install
the tar with `pip install --no-index --find-links` and never ask a package index.

Exit codes: 0 built or already there, 2 the build failed (the one-line reason on stderr).
Output: one JSON object {"version", "tar", "built"} on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

PAYLOAD = ("app", "checks", "pyproject.toml", "constraints.txt")
# Caches tools write beside the code.
SKIP = ("__pycache__", ".pyc", ".ruff_cache")
# What the gate host gets besides the service venv: the smoke gate's test runner.
TOOLS = ("pytest",)
KEEP_BUILDS = 5


class BuildError(Exception):
    """A step of the build failed; the message says which."""


def payload_files(repo: Path) -> Iterator[Path]:
    for name in PAYLOAD:
        top = repo / name
        found = sorted(top.rglob("*")) if top.is_dir() else [top]
        for path in found:
            if path.is_file() and not any(part.endswith(SKIP) for part in path.parts):
                yield path


def version_of(repo: Path, python_release: str) -> str:
    """12 hex digits of a SHA-256 over the hosts' Python version and every deployed
    file's path, mode bit and bytes."""
    digest = hashlib.sha256(f"python {python_release}\0".encode())
    for path in payload_files(repo):
        rel = path.relative_to(repo).as_posix()
        executable = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"{rel}\0{executable}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def commit_of(repo: Path) -> str:
    """HEAD's commit, with -dirty when a deployed file differs from it."""
    try:
        head = _git(repo, "rev-parse", "HEAD")
        dirty = _git(repo, "status", "--porcelain", "--", *PAYLOAD)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout.strip()


def python_version(python: str) -> str:
    try:
        done = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError as exc:
        raise BuildError(f"{python} does not run: {exc}") from exc
    if done.returncode != 0:
        raise BuildError(f"{python} does not run: {done.stderr.strip()[-200:]}")
    return done.stdout.strip()


def tool_pins(repo: Path) -> list[str]:
    """The pinned requirement of each TOOLS entry, from pyproject's dev extra."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    dev = project["optional-dependencies"]["dev"]
    return [pin for pin in dev if pin.split("==")[0].lower() in TOOLS]


def pip_wheel(python: str, *args: str) -> None:
    argv = [python, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BuildError(f"pip wheel {' '.join(args[-1:])} failed: {lines[-1] if lines else ''}")


def build(repo: Path, out: Path, version: str, python: str) -> None:
    """Write out/release.tar (release.json, wheels/, tools/) through a temporary directory.

    `python` is the interpreter the hosts run: pip resolves the environment markers
    (e.g. `python_full_version < "3.11.3"`) for it, not for the controller's.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{version}-", dir=out.parent) as tmp:
        work = Path(tmp)
        src = work / "src"
        for path in payload_files(repo):
            target = src / path.relative_to(repo)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        stage = work / "stage"
        pip_wheel(python, "--no-deps", "-w", str(stage / "wheels"), str(src))
        app_wheel = next((stage / "wheels").glob("*.whl"))
        constraints = str(src / "constraints.txt")
        pip_wheel(python, "-c", constraints, "-w", str(stage / "wheels"), str(app_wheel))
        pip_wheel(python, "-c", constraints, "-w", str(stage / "tools"), *tool_pins(repo))
        release = {
            "version": version,
            "commit": commit_of(repo),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "wheel": app_wheel.name,
            "python": python_version(python),  # what the wheels were resolved for
        }
        (stage / "release.json").write_text(json.dumps(release, indent=2) + "\n")
        packed = work / "packed"
        packed.mkdir()
        with tarfile.open(packed / "release.tar", "w") as tar:
            for path in sorted(stage.rglob("*")):
                tar.add(path, arcname=path.relative_to(stage).as_posix(), recursive=False)
        publish(packed, out)


def publish(packed: Path, out: Path) -> None:
    """Rename the packed build into place. Two deploys of one tree (the e2e and fleet
    suites run side by side) build the same version at once: the loser's rename meets
    the winner's identical release and keeps it."""
    try:
        packed.rename(out)
    except OSError:
        if not (out / "release.tar").is_file():
            raise


def prune(releases: Path, keep: str) -> None:
    """Remove all but the KEEP_BUILDS newest builds (and `keep`)."""
    builds = sorted(
        (d for d in releases.iterdir() if d.is_dir() and not d.name.startswith(".")),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    for old in builds[KEEP_BUILDS:]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Build the release (app wheel, production wheelhouse) on the controller.",
        epilog="Exit codes: 0 built or already built, 2 the build failed.",
    )
    repo = Path(__file__).resolve().parents[1]
    parser.add_argument("--repo", type=Path, default=repo, help="checkout to build (default: this)")
    parser.add_argument(
        "--out", type=Path, default=None, help="releases directory (default: REPO/build/releases)"
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="the hosts' interpreter, which resolves the dependencies (default: this one)",
    )
    parser.add_argument(
        "--version-only", action="store_true", help="print the version that would be built"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    repo = args.repo.resolve()
    releases = (args.out or repo / "build" / "releases").resolve()
    try:
        version = version_of(repo, python_version(args.python))
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot read the checkout {repo}: {exc}", file=sys.stderr)
        return 2
    target = releases / version
    built = False
    if not args.version_only and not (target / "release.tar").is_file():
        try:
            build(repo, target, version, args.python)
        except (BuildError, OSError, subprocess.TimeoutExpired) as exc:
            print(f"error: building release {version}: {exc}", file=sys.stderr)
            return 2
        prune(releases, keep=version)
        built = True
    print(json.dumps({"version": version, "tar": str(target / "release.tar"), "built": built}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
