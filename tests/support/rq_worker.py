"""Real `rq worker` processes (and the scheduler, `python -m app.jobs.cron`) for tests.

Each process runs `python -m rq.cli ...` (or another module) from this interpreter
with the environment it is given, logs to a file of its own, and is stopped (or killed)
by the fixture that started it. `kill_hard()` sends SIGKILL to the worker and
to its work horse, which RQ puts in a process group of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.paths import REPO
from tests.support.processes import module_argv, start_in_own_group

STOP_TIMEOUT_S = 15.0


@dataclass
class RQProcess:
    """One `rq` command line running as a child process."""

    argv: Sequence[str]
    env: Mapping[str, str]
    module: str = "rq.cli"
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(suffix=".log")[1]))
    process: subprocess.Popen | None = None

    def start(self) -> RQProcess:
        self.process = start_in_own_group(
            module_argv(self.module, *self.argv),
            self.log_path,
            env={**os.environ, **self.env},
            cwd=REPO,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself (e.g. a burst worker); its exit code."""
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_hard()
            what = " ".join([self.module, *self.argv[:1]])
            message = f"{what} still running after {timeout}s:\n{self.log()}"
            raise AssertionError(message) from None

    def children(self) -> list[int]:
        """Direct children (a worker's work horse), from /proc."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except FileNotFoundError:
            return []

    def kill_hard(self) -> list[int]:
        """SIGKILL the process and its children, as a crashed host would: the worker
        first, so it never sees its work horse die (it would mark the job failed)."""
        victims = [self.pid, *self.children()]
        for pid in victims:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()
        return victims

    def stop(self) -> None:
        """SIGTERM (RQ's warm shutdown), then SIGKILL if it does not exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill_hard()


def worker_argv(
    redis_url: str,
    queues: Sequence[str],
    *,
    burst: bool = False,
    scheduler: bool = False,
    worker_class: str | None = "app.jobs.worker.JobWorker",
    extra: Sequence[str] = (),
) -> list[str]:
    argv = ["worker", "--url", redis_url]
    if worker_class:
        argv += ["--worker-class", worker_class]
    if burst:
        argv.append("--burst")
    if scheduler:
        argv.append("--with-scheduler")
    return [*argv, *extra, *queues]


@contextmanager
def rq_processes() -> Iterator[Callable[..., RQProcess]]:
    """A factory for rq processes; every one started is stopped at the end."""
    started: list[RQProcess] = []

    def start(argv: Sequence[str], env: Mapping[str, str], module: str = "rq.cli") -> RQProcess:
        proc = RQProcess(list(argv), dict(env), module).start()
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop()
            proc.log_path.unlink(missing_ok=True)
