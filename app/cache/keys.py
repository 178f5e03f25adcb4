"""Canonical cache keys: one key per meaning of a request, never one per spelling.

The key is built from validated, normalised parameters with every default
filled in, so order, omitted defaults and letter case cannot split a key, and
any difference in meaning changes it. 128 bits of SHA-256 are kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from app.infra.keys import PREDICTIONS as PREFIX


def cache_key(params: Mapping[str, object], prefix: str = PREFIX) -> str:
    """`prefix` + hash of the parameters (JSON, keys sorted, None kept as null)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return prefix + hashlib.sha256(canonical.encode()).hexdigest()[:32]
