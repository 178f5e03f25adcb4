"""Read values out of Prometheus text (what /metrics returns); run a throwaway Prometheus."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from urllib.parse import urlencode, urlsplit

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.support.leftovers import scratch_dir
from tests.support.processes import start_in_own_group, stop_server
from tests.support.servers import free_port


def sample_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels` (0 if none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def values_by(text: str, name: str, label: str) -> dict[str, float]:
    """The samples called `name`, keyed by their `label` (one series per process: `pid`)."""
    return {
        sample.labels.get(label, ""): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


class PrometheusServer:
    """Debian's Prometheus on a free loopback port, storage in a temporary directory.

    `backfill()` writes history with promtool before `start()`; `scrape` targets
    are scraped live every `scrape_interval`.
    """

    def __init__(self, scrape: list[str] = (), scrape_interval: str = "1s") -> None:
        self.workdir = scratch_dir("prom")
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        targets = [urlsplit(url).netloc for url in scrape]
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "goalgpt", "static_configs": [{"targets": targets}]}]
            if targets
            else [],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def backfill(self, openmetrics: str) -> None:
        """History in OpenMetrics text (with timestamps) as TSDB blocks, before start()."""
        source = self.workdir / "history.om"
        source.write_text(openmetrics)
        subprocess.run(
            [
                "promtool",
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                str(source),
                str(self.workdir / "data"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> PrometheusServer:
        argv = [
            "prometheus",
            f"--config.file={self.workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=30d",
        ]
        log = self.workdir / "prometheus.log"
        self.process = start_in_own_group(argv, log)
        deadline = time.monotonic() + 60
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"prometheus did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.2)
        return self

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def query(self, expr: str) -> list[dict]:
        url = f"{self.url}/api/v1/query?{urlencode({'query': expr})}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)["data"]["result"]

    def stop(self) -> None:
        stop_server(self.process, signal.SIGTERM, 30, self.workdir)


def openmetrics(series: dict[str, dict[float, float]]) -> str:
    """OpenMetrics text for promtool's backfill: {'name{labels}': {unix_time: value}}.

    Families are typed from their names (`_total` -> counter, else gauge)."""
    families: dict[str, list[str]] = {}
    for key, points in series.items():
        name = key.split("{", 1)[0]
        family = name.removesuffix("_total")
        lines = families.setdefault(family, [])
        lines += [f"{key} {value:g} {at:.3f}" for at, value in sorted(points.items())]
    out = []
    for family, lines in families.items():
        kind = (
            "counter" if any(line.split("{")[0].endswith("_total") for line in lines) else "gauge"
        )
        out += [f"# TYPE {family} {kind}", *lines]
    return "\n".join([*out, "# EOF", ""])
