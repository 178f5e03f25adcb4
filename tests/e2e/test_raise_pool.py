"""raise_pool.yml against the e2e deployment: refused when the probe says not safe or the
value is above its recommendation, accepted when safe (the web processes restarted, the
rq workers, which never read DB_MAX_CONNECTIONS, left running), put back when the
monitor fires during the watch window or the web app fails to start on the new value,
and a rerun with the old value after an interrupted run. Runs after test_deploy.py on
the same deployment (DB_MAX_CONNECTIONS starts at 5), in file order."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import pytest
import yaml

from tests.support import report_page
from tests.support.deployment import REPO, Deployment, PlaybookRun
from tests.support.prometheus import sample_value
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SHORT_WATCH = ("-e", "raise_pool_watch_s=6", "-e", "raise_pool_watch_interval_s=2")


def record_file(deployment: Deployment) -> Path:
    """Where raise_pool.yml keeps a host's old value until the run ends."""
    return deployment.env_file.parent / "raise_pool.previous"


def web_pids(deployment: Deployment) -> dict[str, int]:
    return {n: p for n, p in deployment.service_pids().items() if n.startswith("goalgpt-web")}


def other_pids(deployment: Deployment) -> dict[str, int]:
    """The rq workers' and rq cron's: never restarted by raise_pool."""
    return {n: p for n, p in deployment.service_pids().items() if not n.startswith("goalgpt-web")}


def pool_size_everywhere(deployment: Deployment) -> set[str]:
    """DB_MAX_CONNECTIONS as every web process sees it."""
    sizes = set()
    for pid in web_pids(deployment).values():
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        sizes |= {
            e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"DB_MAX_CONNECTIONS=")
        }
    return sizes


def assert_pools_hold(deployment: Deployment, per_process: int) -> None:
    """The web pools themselves report `per_process` each on /metrics (goalgpt_db_pool_max),
    summed over the web workers; gauges are refreshed every second, so wait a little."""
    workers = deployment.variables()["goalgpt_base_web_workers"]

    def pool_max() -> float:
        with urllib.request.urlopen(deployment.base_url + "/metrics", timeout=10) as answer:
            return sample_value(answer.read().decode(), "goalgpt_db_pool_max")

    wait_for(lambda: pool_max() == workers * per_process, 15, f"pool max {per_process} x {workers}")


def watch_report(run: PlaybookRun) -> Path:
    """The report of the watch window the run says it drew on the controller."""
    found = re.search(r"Report of the watch window: (\S+/pool-health\.html)", run.output)
    assert found, run.tail()
    return Path(found[1])


@contextmanager
def slow_queries(url: str, count: int) -> Iterator[None]:
    """`count` sessions each running pg_sleep, so the probe sees slow queries."""
    conns = [psycopg.connect(url, autocommit=True) for _ in range(count)]
    threads = [threading.Thread(target=_sleep_quietly, args=(conn,), daemon=True) for conn in conns]
    for thread in threads:
        thread.start()
    time.sleep(1.5)  # older than the probe's 1 s "slow" line
    try:
        yield
    finally:
        for conn in conns:
            conn.cancel()
        for thread in threads:
            thread.join(timeout=10)
        for conn in conns:
            conn.close()


def _sleep_quietly(conn: psycopg.Connection) -> None:
    with suppress(psycopg.Error):  # cancelled at the end of the test
        conn.execute("SELECT pg_sleep(120)")


@contextmanager
def cache_missing_traffic(base_url: str) -> Iterator[None]:
    """Requests that each miss the cache (a new user_id every time), until the block ends."""
    stop = threading.Event()

    def send() -> None:
        user_id = 1
        while not stop.is_set():
            user_id += 1
            try:
                urllib.request.urlopen(
                    f"{base_url}/api/predictions/matched?user_id={user_id}", timeout=5
                ).read()
            except OSError:
                time.sleep(0.2)  # the app restarts during the rolling step
            time.sleep(0.05)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def strict_thresholds(deployment: Deployment) -> Path:
    """checks/thresholds.yml with a cache-hit-rate trigger that misses always breach."""
    data = yaml.safe_load((REPO / "checks" / "thresholds.yml").read_text())
    data["monitor"]["cache_hit_rate"].update(
        target_above_pct=99.5, trigger_below_pct=99, window_s=30, min_requests=5
    )
    path = deployment.root / "strict-thresholds.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_refused_when_the_probe_says_not_safe(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    env_before = deployment.env_file.read_bytes()
    pids_before = deployment.service_pids()
    with slow_queries(deployment.env()["DATABASE_URL"], count=7):
        run = deployment.playbook("raise_pool.yml", "-e", "db_max_connections=10", *SHORT_WATCH)
    assert run.returncode != 0
    assert "Not safe to change the pool" in run.output, run.tail()
    assert "slow queries detected" in run.output
    assert deployment.env_file.read_bytes() == env_before
    assert deployment.service_pids() == pids_before
    assert not record_file(deployment).exists()


def test_refused_above_the_recommendation_in_one_line(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    env_before = deployment.env_file.read_bytes()
    pids_before = deployment.service_pids()
    # 501: no range of the playbook's own refuses it; the probe's recommendation does.
    run = deployment.playbook("raise_pool.yml", "-e", "db_max_connections=501", *SHORT_WATCH)

    assert run.returncode != 0
    output = " ".join(run.output.split())
    refused = re.search(
        r"db_max_connections=501 refused, nothing was changed: pool max 501 is above the "
        r"recommended (\d+) for 2 web processes \+ 2 workers: ",
        output,
    )
    assert refused, run.tail()
    # At most the seed's 80: through PgBouncer (this deployment) the per-process pool is
    # bounded by the client side (max_client_conn) and the seed's cap, not max_connections.
    assert 1 <= int(refused[1]) <= 80
    assert "Plan:" not in output  # refused before the plan: nothing was going to change
    assert deployment.env_file.read_bytes() == env_before
    assert deployment.service_pids() == pids_before


def test_accepted_when_safe_live_in_every_web_process_and_workers_untouched(
    first_deploy, deployment: Deployment
):
    assert first_deploy.returncode == 0
    webs_before, others_before = web_pids(deployment), other_pids(deployment)
    run = deployment.playbook("raise_pool.yml", "-e", "db_max_connections=10", *SHORT_WATCH)
    assert run.returncode == 0, run.tail()
    output = " ".join(run.output.split())
    assert (
        "Plan: set DB_MAX_CONNECTIONS to 10 (now: localhost 5). Only the web processes read "
        "it: write it and restart the web app on localhost, 1 host(s) at a time. Not touched: "
        "the rq workers of localhost: rq workers read JOB_DB_MAX_CONNECTIONS"
    ) in output, run.tail()
    # 4 threads + 2 refreshes per web process: a pool of 10 is said to be partly useless.
    assert "cannot take effect above 6" in output
    # The watch sampled the monitoring host's Prometheus (inventory/local has one).
    assert f"{deployment.prometheus_url} (goalgpt_* series of the app hosts)" in output
    assert deployment.env()["DB_MAX_CONNECTIONS"] == "10"
    assert pool_size_everywhere(deployment) == {"10"}
    assert_pools_hold(deployment, 10)
    webs_after = web_pids(deployment)
    assert set(webs_after) == set(webs_before)
    assert all(webs_after[name] != webs_before[name] for name in webs_before)
    assert other_pids(deployment) == others_before, "raise_pool restarted the rq workers"
    assert not record_file(deployment).exists()
    report = watch_report(run)
    try:  # by default on the controller, in build/reports/raise_pool-<time>/
        assert report.parent.parent == REPO / "build" / "reports"
        charts = report_page.charts(report.read_text())
        assert sorted(charts) == sorted(report_page.METRICS)
        assert [c.held() for c in charts.values()] == [[], [], [], []]
        assert (report.parent / "watch.jsonl").is_file()
    finally:
        shutil.rmtree(report.parent)


def test_rolled_back_when_a_trigger_fires_in_the_watch_window(
    first_deploy, deployment: Deployment, strict_thresholds: Path
):
    assert first_deploy.returncode == 0
    before = deployment.env()["DB_MAX_CONNECTIONS"]
    watch = ("-e", "raise_pool_watch_s=12", "-e", "raise_pool_watch_interval_s=3")
    with cache_missing_traffic(deployment.base_url):
        run = deployment.playbook(
            "raise_pool.yml",
            "-e",
            "db_max_connections=12",
            "-e",
            f"raise_pool_thresholds={strict_thresholds}",
            "-e",
            f"raise_pool_report_dir={deployment.root / 'watch-report'}",
            *watch,
        )
    assert run.returncode != 0
    expected = "Rolled back DB_MAX_CONNECTIONS=12: the monitor fired during the watch window"
    assert expected in run.output, run.tail()
    assert f"Put back: localhost to {before}." in run.output
    assert "cache_hit_rate=" in run.output
    assert deployment.env()["DB_MAX_CONNECTIONS"] == before
    assert pool_size_everywhere(deployment) == {before}
    assert_pools_hold(deployment, int(before))
    assert not record_file(deployment).exists()
    # The window drawn on the controller, with the thresholds the watch applied on the host.
    report = watch_report(run)
    assert report == deployment.root / "watch-report" / "pool-health.html"
    page = report.read_text()
    cache = report_page.charts(page)["cache_hit_rate"]
    assert cache.held(), "the trigger that fired is shaded"
    assert cache.threshold() == pytest.approx(99, abs=1e-3)  # strict_thresholds, not the repo's
    assert "Increase PREDICTIONS_CACHE_TTL_S" in page


def test_the_hosts_service_venv_has_no_chart_library_and_says_so(
    first_deploy, deployment: Deployment
):
    """The watch draws on the controller: the release's wheelhouse leaves matplotlib out."""
    assert first_deploy.returncode == 0
    done = subprocess.run(
        [str(deployment.venv / "bin" / "python"), "-m", "checks.monitor", "--prometheus-url",
         deployment.prometheus_url, "--since", "10m", "--report", str(deployment.root / "r")],
        cwd="/",  # the release's own checks package, not this checkout's
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("monitor failed: --report needs matplotlib, which this Python")
    assert len(done.stderr.splitlines()) == 1
    assert not (deployment.root / "r").exists()


@contextmanager
def web_refuses_to_start_with(deployment: Deployment, value: str) -> Iterator[None]:
    """gunicorn exits at start-up while DB_MAX_CONNECTIONS is `value` (a .pth file
    in the deployed virtualenv), as a web app that cannot start on the new value."""
    (pth,) = deployment.venv.glob("lib/python3*/site-packages")
    hook = pth / "zz_e2e_refuse_start.pth"
    hook.write_text(
        "import os, sys; "
        f"os.environ.get('DB_MAX_CONNECTIONS') == '{value}' and 'gunicorn' in sys.argv[0] "
        "and sys.exit('e2e: refusing to start with this pool size')\n"
    )
    try:
        yield
    finally:
        hook.unlink()


def test_put_back_when_the_web_app_fails_to_start_mid_roll(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    before = deployment.env()["DB_MAX_CONNECTIONS"]
    with web_refuses_to_start_with(deployment, "13"):
        run = deployment.playbook(
            "raise_pool.yml",
            "-e",
            "db_max_connections=13",
            "-e",
            "goalgpt_app_ready_retries=10",
            *SHORT_WATCH,
        )
    assert run.returncode != 0
    assert "Rolled back DB_MAX_CONNECTIONS=13: localhost failed at" in run.output, run.tail()
    assert f"Put back: localhost to {before}." in run.output
    assert "Watch - one poll" not in run.output  # the roll stopped before the watch
    assert deployment.env()["DB_MAX_CONNECTIONS"] == before
    assert pool_size_everywhere(deployment) == {before}
    assert not record_file(deployment).exists()


def test_rerun_with_the_old_value_after_an_interrupted_run(first_deploy, deployment: Deployment):
    assert first_deploy.returncode == 0
    before = deployment.env()["DB_MAX_CONNECTIONS"]
    log = deployment.root / "interrupted-raise-pool.log"
    watch = ("-e", "raise_pool_watch_s=20", "-e", "raise_pool_watch_interval_s=2")
    # A longer window for the run that is interrupted: a loaded box must not see it end first.
    long_watch = ("-e", "raise_pool_watch_s=60", "-e", "raise_pool_watch_interval_s=2")
    with interrupted_in_the_watch(
        deployment, log, "-e", "db_max_connections=14", *long_watch
    ) as code:
        assert code != 0, log.read_text()[-3000:]
        assert deployment.env()["DB_MAX_CONNECTIONS"] == "14"
        assert pool_size_everywhere(deployment) == {"14"}
        assert record_file(deployment).read_text() == f"DB_MAX_CONNECTIONS={before}\n"

        report = ("-e", f"raise_pool_report_dir={deployment.root / 'rerun-report'}")
        rerun = deployment.playbook(
            "raise_pool.yml", "-e", f"db_max_connections={before}", *watch, *report
        )

    assert rerun.returncode == 0, rerun.tail()
    assert "An earlier raise_pool run did not finish on this host" in rerun.output
    assert deployment.env()["DB_MAX_CONNECTIONS"] == before
    assert pool_size_everywhere(deployment) == {before}
    assert not record_file(deployment).exists()


@contextmanager
def interrupted_in_the_watch(deployment: Deployment, log: Path, *args: str) -> Iterator[int]:
    """Run raise_pool.yml and Ctrl-C it (SIGINT to its process group) once the watch
    has polled once; yields its exit code. Waits for the monitor it left to end.

    A SIGINT that lands while Ansible forks a worker can be lost (the child still has
    the parent's handler until it detaches): like an operator, it presses Ctrl-C again
    when the first did not stop the run."""
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/raise_pool.yml"]
    argv += ["-i", str(deployment.inventory), *args]
    env = os.environ | {"ANSIBLE_NOCOLOR": "1"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 300
        while not _watch_polled(log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        for _ in range(3):
            os.killpg(proc.pid, signal.SIGINT)
            with suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
                break
        yield proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _wait_for_monitor_to_end(deployment)


def _watch_polled(output: str) -> bool:
    """The watch task has started and polled its monitor at least once."""
    _, header, after = output.partition("TASK [Watch - one poll")
    return bool(header) and "FAILED - RETRYING" in after


def _wait_for_monitor_to_end(deployment: Deployment, timeout: float = 60) -> None:
    """The watch's monitor outlives a Ctrl-C of the controller until its window ends."""
    # It reads this deployment's Prometheus (inventory/local has a monitoring host).
    marker = deployment.prometheus_url.encode() + b"\0"  # a whole argument
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in Path("/proc").glob("[0-9]*") if _cmdline_has(p, marker)]
        if not left:
            return
        time.sleep(1)
    for proc in left:
        with suppress(ProcessLookupError, ValueError):
            os.kill(int(proc.name), signal.SIGTERM)


def _cmdline_has(proc: Path, marker: bytes) -> bool:
    try:
        cmdline = (proc / "cmdline").read_bytes()
    except OSError:
        return False
    return b"checks.monitor" in cmdline and marker in cmdline
