"""When the certificates of the servers the app talks to end, as the app meets them.

For each TLS connection setting (DATABASE_URL with sslmode=verify-*, REDIS_URL and
RQ_REDIS_URL with rediss://) a handshake verified against the URL's CA gives the
certificate the server really presents, so one renewed on disk but not yet loaded
still shows its old end. Exported on /metrics as
goalgpt_tls_certificate_expiry_timestamp_seconds{endpoint=...} (Unix time); the alert
GoalGPTTLSCertificateExpiring fires before it (checks/thresholds.yml `tls`). Read at
most every REFRESH_S per process: a scrape never waits on every server.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.infra import metric_names as names

log = logging.getLogger(__name__)

REFRESH_S = 300.0
TIMEOUT_S = 3.0
# PostgreSQL's SSLRequest: length 8, then the request code 80877103.
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


@dataclass(frozen=True)
class Endpoint:
    name: str
    host: str
    port: int
    ca_file: str
    postgres: bool = False


def endpoints(urls: dict[str, str]) -> list[Endpoint]:
    """The TLS endpoints among `urls` (endpoint name -> connection URL)."""
    found = []
    for name, url in urls.items():
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        if parts.scheme in ("postgresql", "postgres") and query.get("sslrootcert"):
            if query.get("sslmode", "").startswith("verify"):
                found.append(
                    Endpoint(
                        name, parts.hostname or "", parts.port or 5432, query["sslrootcert"], True
                    )
                )
        elif parts.scheme == "rediss" and query.get("ssl_ca_certs"):
            found.append(
                Endpoint(name, parts.hostname or "", parts.port or 6379, query["ssl_ca_certs"])
            )
    return found


def not_after(endpoint: Endpoint, timeout_s: float = TIMEOUT_S) -> float:
    """The Unix time the server's certificate ends; OSError (ssl.SSLError) if unverified."""
    context = ssl.create_default_context(cafile=endpoint.ca_file)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout_s) as sock:
        if endpoint.postgres:
            sock.sendall(SSL_REQUEST)
            if sock.recv(1) != b"S":
                raise ssl.SSLError(f"{endpoint.host}:{endpoint.port} does not speak TLS")
        with context.wrap_socket(sock, server_hostname=endpoint.host) as tls:
            return ssl.cert_time_to_seconds(tls.getpeercert()["notAfter"])


class TlsExpiryCollector(Collector):
    """goalgpt_tls_certificate_expiry_timestamp_seconds for each endpoint that answered."""

    def __init__(
        self,
        found: list[Endpoint],
        read: Callable[[Endpoint], float] = not_after,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.endpoints = found
        self.read = read
        self.refresh_s = refresh_s
        self._known: dict[str, float] = {}
        self._read_at = -refresh_s
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            names.TLS_CERTIFICATE_EXPIRY,
            "When the certificate a server presents ends (Unix time), by endpoint.",
            labels=["endpoint"],
        )
        for endpoint, value in sorted(self._values().items()):
            gauge.add_metric([endpoint], value)
        yield gauge

    def _values(self) -> dict[str, float]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.refresh_s:
                self._read_at = time.monotonic()
                self._known = dict(self._read_each())
            return self._known

    def _read_each(self) -> Iterator[tuple[str, float]]:
        for endpoint in self.endpoints:
            try:
                yield endpoint.name, self.read(endpoint)
            except OSError as exc:  # down or unverified: /readyz and the dependency metric say so
                log.warning("no TLS certificate read from %s: %s", endpoint.name, exc)
