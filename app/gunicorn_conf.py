"""gunicorn settings from app.config: `gunicorn -c app/gunicorn_conf.py app.wsgi:app`.

gthread workers (GUNICORN_WORKERS processes x GUNICORN_THREADS threads) on
GUNICORN_BIND. With PROMETHEUS_MULTIPROC_DIR set, /metrics sums every worker:
the directory is emptied at start and a dead worker's gauges are dropped.
"""

from __future__ import annotations

from pathlib import Path as _Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gunicorn.arbiter import Arbiter
    from gunicorn.workers.base import Worker

# Underscored: gunicorn reads every public name here as a setting (`config` is one).
from app import config as _config
from app import metrics as _metrics

_settings = _config.load_or_exit()

bind = _settings.GUNICORN_BIND
workers = _settings.GUNICORN_WORKERS
threads = _settings.GUNICORN_THREADS
worker_class = "gthread"
# Each worker builds its own app, pool and Redis client after the fork: never share sockets.
preload_app = False
# A request waits at most for the pool and one single-flight; kill a worker stuck well past that.
timeout = int(max(30, 3 * (_settings.POOL_TIMEOUT_S + _settings.SINGLEFLIGHT_TIMEOUT_S)))
graceful_timeout = 10
accesslog = None
# The control socket has one default path per user: two servers on a host would collide.
control_socket_disable = True


def on_starting(server: Arbiter) -> None:
    directory = _metrics.multiprocess_dir()
    if directory:
        # Files left by a previous run would be summed into this one's metrics.
        _Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in _Path(directory).glob("*.db"):
            stale.unlink()


def child_exit(server: Arbiter, worker: Worker) -> None:
    _metrics.mark_process_dead(worker.pid)
