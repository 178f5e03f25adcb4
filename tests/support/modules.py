"""Our Ansible modules (library/) run as Ansible runs them: a JSON file of arguments,
the result read back from stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.paths import REPO

LIBRARY = REPO / "library"


def run_ansible_module(tmp_path: Path, module: str, check: bool = False, **args: object) -> dict:
    """library/`module`.py with `args` (in check mode with `check`), its arguments file
    in tmp_path; the result, failed or not (a failure exits non-zero)."""
    params = tmp_path / "args.json"
    args = {**args, "_ansible_check_mode": check, "_ansible_diff": True}
    params.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    done = subprocess.run(
        [sys.executable, str(LIBRARY / f"{module}.py"), str(params)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert (done.returncode != 0) == bool(result.get("failed")), done
    return result
