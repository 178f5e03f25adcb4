"""Ansible callback: where a run spends its time, task by task (ansible.posix's
profile_tasks is not in ansible-core, and this project installs nothing from Galaxy).

Enable it for one run: `ANSIBLE_CALLBACKS_ENABLED=goalgpt_timings make deploy ...`.
At the end it prints the `GOALGPT_TIMINGS_TOP` (10) slowest tasks by wall time (from
the task's start to the next one's, every host together, as an operator waits for
it) and, with `GOALGPT_TIMINGS_JSON=FILE`, writes every task's figures there for
bench/deploy_speed.py.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: goalgpt_timings
    type: aggregate
    short_description: per-task wall times of a run, the slowest printed at the end
    description:
      - Prints the slowest tasks of the run by wall time; writes all of them as JSON
        to the file named by GOALGPT_TIMINGS_JSON when it is set.
    requirements:
      - enabled with ANSIBLE_CALLBACKS_ENABLED=goalgpt_timings
"""


@dataclass
class TaskTiming:
    play: str
    task: str
    action: str
    seconds: float = 0.0
    hosts: int = 0
    # Slowest host's own time on this task (start to result).
    slowest_host_s: float = 0.0


@dataclass
class _Run:
    tasks: list[TaskTiming] = field(default_factory=list)
    current: TaskTiming | None = None
    current_started: float = 0.0
    host_started: dict[str, float] = field(default_factory=dict)
    run_started: float = field(default_factory=time.monotonic)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "goalgpt_timings"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._run = _Run()
        self._play = ""

    def _close_task(self) -> None:
        if self._run.current is not None:
            self._run.current.seconds += time.monotonic() - self._run.current_started
            self._run.current = None

    def _open_task(self, task: Any) -> None:
        self._close_task()
        name = task.get_name().strip()
        self._run.current = TaskTiming(play=self._play, task=name, action=task.action)
        self._run.current_started = time.monotonic()
        self._run.tasks.append(self._run.current)
        self._run.host_started = {}

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._close_task()
        self._play = play.get_name().strip()

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._open_task(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._open_task(task)

    def v2_runner_on_start(self, host: Any, task: Any) -> None:
        self._run.host_started[host.get_name()] = time.monotonic()

    def _host_done(self, result: Any, *_: Any, **__: Any) -> None:
        current = self._run.current
        started = self._run.host_started.pop(result._host.get_name(), None)
        if current is None or started is None:
            return
        current.hosts += 1
        current.slowest_host_s = max(current.slowest_host_s, time.monotonic() - started)

    v2_runner_on_ok = v2_runner_on_failed = v2_runner_on_skipped = _host_done
    v2_runner_on_unreachable = _host_done

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close_task()
        total = time.monotonic() - self._run.run_started
        top = int(os.environ.get("GOALGPT_TIMINGS_TOP", "10"))
        ranked = sorted(self._run.tasks, key=lambda t: t.seconds, reverse=True)
        self._display.banner(f"SLOWEST {top} TASKS (of {len(ranked)}, run {total:.1f}s)")
        for timing in ranked[:top]:
            self._display.display(f"{timing.seconds:7.1f}s  {timing.play} | {timing.task}")
        path = os.environ.get("GOALGPT_TIMINGS_JSON")
        if path:
            payload = {"total_s": total, "tasks": [asdict(t) for t in self._run.tasks]}
            with open(path, "w", encoding="utf-8") as out:
                json.dump(payload, out, indent=1)
