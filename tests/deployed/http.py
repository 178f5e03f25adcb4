"""HTTP from the host under test, with the python3 every managed host has (no curl:
a minimal Debian host, like the lab's, has none)."""

from __future__ import annotations

import json
from typing import Any

# Retries a refused or reset connection (a restart may have just happened), never
# an HTTP error status: that is the answer.
_GET = """
import sys, time, urllib.error, urllib.request
url, tries, times = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def fetch():
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return answer.read().decode()
        except urllib.error.HTTPError:
            raise
        except OSError:
            if attempt == tries - 1:
                raise
            time.sleep(1)

for _ in range(times):
    body = fetch()
sys.stdout.write(body)
"""


def get(host: Any, url: str, tries: int = 1, times: int = 1) -> str:
    """The body of GET `url` from `host` (the last of `times` requests, each retried
    on a refused connection up to `tries` times); fails the test on an error status."""
    return host.check_output("python3 -c %s %s %s %s", _GET, url, str(tries), str(times))


def get_json(host: Any, url: str, tries: int = 1) -> Any:
    return json.loads(get(host, url, tries))
