"""The predictions cache: canonical keys, in-process and fleet-wide single-flight."""

from app.cache.keys import PREFIX, cache_key
from app.cache.shared import HolderFailed, Lookup, SharedCache
from app.cache.singleflight import Group, SingleFlightTimeout

__all__ = [
    "PREFIX",
    "Group",
    "HolderFailed",
    "Lookup",
    "SharedCache",
    "SingleFlightTimeout",
    "cache_key",
]
