"""`python -m checks.monitor ... --report DIR`: the run as a static HTML page of charts.

The history is known minute by minute (promtool backfill into a real Prometheus),
so where each trigger must hold is known too; the page is read back from its SVG
alone (tests/support/report_page.py): the threshold lines' values, the shaded
spans' times. A live run against a scripted /metrics server, and the same run
redrawn from its --json lines (raise_pool's watch), are read back the same way.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import pytest

from checks import thresholds
from tests.monitoring.story import Story
from tests.support import report_page
from tests.support.metrics_server import ScriptedMetricsServer
from tests.support.paths import REPO
from tests.support.processes import module_argv
from tests.support.prometheus import PrometheusServer, openmetrics

pytestmark = pytest.mark.slow
LIMITS = thresholds.load().monitor
THRESHOLD_LINES = {
    "max_clients_errors": LIMITS.max_clients_errors.trigger_above,
    "cache_hit_rate": LIMITS.cache_hit_rate.trigger_below_pct,
    "db_active_connections": LIMITS.db_active_connections.trigger_above,
    "pool_waiting": LIMITS.pool_waiting.trigger_above,
}
METRICS = tuple(THRESHOLD_LINES)
STEP = 60  # the history's step (--interval default): one reading per stored sample


def eventful() -> Story:
    """Each trigger holds once, for a span known to the minute."""
    story = Story().errors_at(150, 149, 148, 147)  # 4 within an hour: > 3
    story.requests(hits=49, misses=51, first_ago=25, last_ago=10)  # 49 %: < 50 %
    story.set(story.active, 46, first_ago=90, last_ago=80)  # > 45 for 11 minutes
    return story.set(story.waiting, 6, first_ago=40, last_ago=35)  # > 5


# Where each trigger holds, by how many minutes ago the newest sample at a reading is:
HOLDS_WHEN = {
    # increase() over (t-1h, t] counts an error once the sample before it is inside:
    # the one at 151 min ago is in the window from 92 min ago on; the 4th error is at 147.
    "max_clients_errors": range(92, 148),
    # the 5 min window holds 4 increases: all four are 49 % ones from 22 min ago to 10.
    "cache_hit_rate": range(10, 23),
    # above 45 from 90 min ago; held once that lasted 300 s (85) until the last 46 (80).
    "db_active_connections": range(80, 86),
    "pool_waiting": range(35, 41),
}


def expected_held(story: Story, start: float, end: float, metric: str) -> list[float]:
    """The spans (flattened) where `metric`'s trigger holds, reading by reading."""
    steps = [round(round(start, 3) + i * STEP, 3) for i in range(int((end - start) // STEP) + 1)]
    spans: list[float] = []
    holding = False
    for at in steps:
        newest = max(0, math.ceil((story.end - at) / 60))  # minutes ago of the last sample
        holds = newest in HOLDS_WHEN[metric]
        if holds != holding:
            spans.append(at)
            holding = holds
    return [*spans, end] if holding else spans


def stamp(text: str) -> float:
    """The monitor's printed time (whole seconds) as unix time."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def flat(spans: list[tuple[float, float]]) -> list[float]:
    return [t for span in spans for t in span]


def monitor(*args: str, wrapper: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wrapper, *module_argv("checks.monitor", *args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def json_lines(done: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in done.stdout.splitlines()]


@dataclass
class Drawn:
    story: Story
    done: subprocess.CompletedProcess[str]
    directory: Path
    prometheus: PrometheusServer

    @property
    def page(self) -> str:
        return report_page.read(self.directory)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drawn]:
    """The eventful story's last 4 hours drawn by `--since 4h --report DIR --json`."""
    story = eventful()
    server = PrometheusServer()
    try:
        server.backfill(openmetrics(story.series()))
        server.start()
        directory = tmp_path_factory.mktemp("report") / "incident-42"
        done = monitor(
            "--prometheus-url", server.url, "--since", "4h", "--report", str(directory), "--json"
        )
        yield Drawn(story, done, directory, server)
    finally:
        server.stop()


def test_every_metric_has_a_chart_with_its_threshold_from_thresholds_yml(drawn: Drawn):
    assert drawn.done.returncode == 1, drawn.done.stdout + drawn.done.stderr  # triggers fired
    charts = report_page.charts(drawn.page)

    assert sorted(charts) == sorted(METRICS)
    for metric, chart in charts.items():
        assert chart.threshold() == pytest.approx(THRESHOLD_LINES[metric], abs=1e-3), metric


def test_shaded_spans_are_exactly_where_each_trigger_held(drawn: Drawn):
    charts = report_page.charts(drawn.page)

    for metric in METRICS:
        start, end = charts[metric].x_range
        expected = expected_held(drawn.story, start, end, metric)
        assert len(expected) == 2, f"{metric}: the story holds each trigger once"
        assert flat(charts[metric].held()) == pytest.approx(expected, abs=0.05), metric


def test_shaded_spans_match_the_alerts_the_same_run_printed(drawn: Drawn):
    """Both come from the triggers' verdicts: the alert at a span's start, resolved at its end."""
    events = json_lines(drawn.done)
    charts = report_page.charts(drawn.page)

    for metric in METRICS:
        (alert,) = [e for e in events if e["type"] == "alert" and e["metric"] == metric]
        (resolved,) = [e for e in events if e["type"] == "resolved" and e["metric"] == metric]
        ((since, until),) = charts[metric].held()
        assert 0 <= since - stamp(alert["time"]) < 1, metric
        assert 0 <= until - stamp(resolved["time"]) < 1, metric


def test_each_chart_has_the_summarys_recommendation_beside_it(drawn: Drawn):
    summary = json_lines(drawn.done)[-1]
    page = drawn.page

    assert summary["report"] == str(drawn.directory / "pool-health.html")
    for metric in METRICS:
        section = page.split(f'<section id="{metric}">', 1)[1].split("</section>", 1)[0]
        assert 'id="chart-' + metric + '"' in section
        assert escape(getattr(LIMITS, metric).action) in section, metric
        assert "Recommendation:" in section
    assert "4 of 4 triggers fired" in page


def test_the_page_refers_to_nothing_outside_itself(drawn: Drawn):
    page = drawn.page
    ids = [attrs["id"] for _, attrs in report_page.tags(page) if attrs.get("id")]

    assert report_page.external_references(page) == []
    assert "<script" not in page.lower()
    assert "http" not in page.lower()  # not even the Prometheus it read
    assert len(ids) == len(set(ids)), "ids must be unique across the charts"
    assert page.count("<svg") == len(METRICS)


def test_a_quiet_range_shades_nothing_and_says_so(prometheus_with, tmp_path: Path):
    prometheus = prometheus_with(Story())

    done = monitor("--prometheus-url", prometheus.url, "--since", "3h", "--report", str(tmp_path))

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Report: {tmp_path / 'pool-health.html'}" in done.stdout
    page = report_page.read(tmp_path)
    charts = report_page.charts(page)
    assert sorted(charts) == sorted(METRICS)
    assert all(chart.held() == [] for chart in charts.values())
    assert all(
        chart.threshold() == pytest.approx(THRESHOLD_LINES[m], abs=1e-3)
        for m, chart in charts.items()
    )
    assert "No trigger fired" in page
    assert page.count("Within its threshold over the whole range") == len(METRICS)


def test_a_report_dir_that_is_a_file_is_refused_before_any_work(tmp_path: Path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine\n")

    # Prometheus is not reachable: the DIR is judged first.
    done = monitor("--prometheus-url", "http://127.0.0.1:9", "--report", str(a_file))

    assert done.returncode == 2
    assert done.stderr == f"monitor failed: --report {a_file}: {a_file} is not a directory\n"
    assert a_file.read_text() == "mine\n"


def read_only(directory: Path) -> tuple[str, ...]:
    """A command prefix under which `directory` cannot be written, even by root: a
    read-only bind mount of it in a mount namespace of the command's own."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        return ()
    remount = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    return ("unshare", "--mount", "--propagation", "private", "sh", "-c", remount, str(directory))


def test_a_report_dir_that_cannot_be_written_is_refused(tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir()
    report = locked / "new"

    done = monitor(
        "--prometheus-url", "http://127.0.0.1:9", "--report", str(report),
        wrapper=read_only(locked),
    )  # fmt: skip

    assert done.returncode == 2
    assert done.stderr == f"monitor failed: --report {report}: {locked} is not writable\n"
    assert list(locked.iterdir()) == []


def test_a_failed_write_leaves_no_partial_file(drawn: Drawn, tmp_path: Path):
    """The page is renamed into place: when that fails, no temporary file is left behind."""
    blocker = tmp_path / "pool-health.html"  # a directory where the page would go
    blocker.mkdir()
    (blocker / "keep").write_text("x")

    done = monitor(
        "--prometheus-url", drawn.prometheus.url, "--since", "1h", "--report", str(tmp_path)
    )

    assert done.returncode == 2
    assert done.stderr.startswith(f"monitor failed: cannot write {blocker}: ")
    assert len(done.stderr.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pool-health.html"]
    assert (blocker / "keep").read_text() == "x"


def test_a_failed_run_leaves_the_previous_report_as_it_was(tmp_path: Path):
    previous = tmp_path / "pool-health.html"
    previous.write_text("<p>yesterday's report</p>")

    done = monitor("--prometheus-url", "http://127.0.0.1:9", "--report", str(tmp_path))

    assert done.returncode == 2
    assert "cannot reach Prometheus" in done.stderr
    assert previous.read_text() == "<p>yesterday's report</p>"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pool-health.html"]


@pytest.fixture(scope="module")
def waiting_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[subprocess.CompletedProcess[str], Path]]:
    """A live run of six samples, a second apart; 7 requests wait at the 3rd and 4th."""
    tmp_path = tmp_path_factory.mktemp("live")
    app = ScriptedMetricsServer(
        [None, None, lambda m: m.pool_waiting.set(7), None, lambda m: m.pool_waiting.set(0)]
    ).start()
    try:
        live = tmp_path / "live"
        done = monitor(
            "--metrics-url", app.url, "--interval", "1", "--duration", "5", "--json",
            "--report", str(live),
        )  # fmt: skip
    finally:
        app.stop()
    yield done, live


def test_a_live_run_draws_where_its_samples_breached(waiting_run):
    done, live = waiting_run
    samples = [e for e in json_lines(done) if e["type"] == "sample"]

    assert done.returncode == 1, done.stdout + done.stderr
    assert [s["breached"] for s in samples] == [[], [], ["pool_waiting"], ["pool_waiting"], [], []]
    chart = report_page.charts(report_page.read(live))["pool_waiting"]
    ((since, until),) = chart.held()
    assert 0 <= since - stamp(samples[2]["time"]) < 1
    assert 0 <= until - stamp(samples[4]["time"]) < 1
    assert chart.threshold() == pytest.approx(LIMITS.pool_waiting.trigger_above, abs=1e-3)


def test_a_recorded_run_is_redrawn_from_its_json_lines(waiting_run, tmp_path: Path):
    """raise_pool's watch: the host samples, the controller draws from the lines kept."""
    done, _ = waiting_run
    recorded = tmp_path / "watch.jsonl"
    recorded.write_text(done.stdout)
    samples = [e for e in json_lines(done) if e["type"] == "sample"]

    redrawn = monitor("--from-json", str(recorded), "--report", str(tmp_path / "redrawn"))

    assert redrawn.returncode == 0, redrawn.stderr
    assert redrawn.stdout == f"Report: {tmp_path / 'redrawn' / 'pool-health.html'}\n"
    page = report_page.read(tmp_path / "redrawn")
    charts = report_page.charts(page)
    assert sorted(charts) == sorted(METRICS)
    expected = [stamp(samples[2]["time"]), stamp(samples[4]["time"])]
    assert flat(charts["pool_waiting"].held()) == pytest.approx(expected, abs=0.05)
    assert [chart.held() for m, chart in charts.items() if m != "pool_waiting"] == [[], [], []]
    assert escape(LIMITS.pool_waiting.action) in page
    assert report_page.external_references(page) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "has no summary line: the run did not finish"),
        ("not json\n", "line 1 is not a JSON object: did the run use --json?"),
    ],
)
def test_a_recording_that_cannot_be_drawn_is_one_line(waiting_run, tmp_path, content, message):
    done, _ = waiting_run
    recorded = tmp_path / "watch.jsonl"
    lines = done.stdout.splitlines()[:-1]  # cut before the summary: a watch that never ended
    recorded.write_text(content if content is not None else "\n".join(lines) + "\n")

    redrawn = monitor("--from-json", str(recorded), "--report", str(tmp_path / "out"))

    assert redrawn.returncode == 2
    assert redrawn.stderr == f"monitor failed: {recorded} {message}\n"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-json", "x.jsonl"], "--from-json draws a report: give --report DIR"),
        (
            ["--from-json", "x.jsonl", "--report", "d", "--prometheus-url", "http://x"],
            "--from-json draws a recorded run: drop --prometheus-url",
        ),
    ],
)
def test_from_json_misuse_is_one_line_and_exit_2(args, message):
    done = monitor(*args)

    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_help_names_the_report_options():
    done = monitor("--help")

    assert done.returncode == 0
    assert "--report DIR" in done.stdout
    assert "--from-json FILE" in done.stdout
