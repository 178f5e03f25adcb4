"""library/goalgpt_http_wait.py run as Ansible runs it, against a real HTTP server on
127.0.0.1 that turns ready after a few requests."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.paths import REPO

MODULE = REPO / "library" / "goalgpt_http_wait.py"


class Server(ThreadingHTTPServer):
    ready_after = 3  # requests answered 503 before the first 200
    asked = 0


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        self.server.asked += 1
        self.send_response(200 if self.server.asked > self.server.ready_after else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    made = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=made.serve_forever, daemon=True)
    thread.start()
    yield made
    made.shutdown()
    made.server_close()


def run(tmp_path: Path, **args: object) -> tuple[int, dict[str, object]]:
    params = tmp_path / "args.json"
    params.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    done = subprocess.run(
        [sys.executable, str(MODULE), str(params)], capture_output=True, text=True, timeout=60
    )
    return done.returncode, json.loads(done.stdout)


def test_waits_through_503_until_the_url_answers_200(server: Server, tmp_path: Path):
    url = f"http://127.0.0.1:{server.server_address[1]}/readyz"
    code, result = run(tmp_path, url=url, timeout=30, interval=0.05)
    assert code == 0, result
    assert result["status"] == 200
    assert result["changed"] is False
    # One module run asked until ready: the three 503s, then the 200.
    assert result["tries"] == server.asked == 4


def test_fails_with_the_last_answer_when_not_ready_in_time(server: Server, tmp_path: Path):
    server.ready_after = 10**6
    url = f"http://127.0.0.1:{server.server_address[1]}/readyz"
    code, result = run(tmp_path, url=url, timeout=0.5, interval=0.05)
    assert code == 1
    assert result["failed"] is True
    assert result["msg"] == f"{url} did not answer 200 within 0.5 s (last: 503)"


def test_refuses_a_url_that_is_not_http(tmp_path: Path):
    code, result = run(tmp_path, url="file:///etc/passwd")
    assert code == 1
    assert result["msg"] == "url must be http:// or https://, got file:///etc/passwd"
