"""What a readiness probe and a metrics scrape read from the gateway: checks and plain counts.

Both are read on demand, never on the request path: the counts are integers the
gateway and the local cache bump where they already branch, and a collector turns
them into metrics when it is scraped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oauth_middleware.store._gateway.connection import GUARD
from oauth_middleware.store._gateway.script import SCRIPTS

if TYPE_CHECKING:
    from oauth_middleware.store._gateway.gateway import Gateway

#: The checks of :func:`readiness`, in the order they run.
CHECKS = ("redis", "scripts", "cache")


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counts since the store was built; the cache's stay 0 while it is off."""

    errors: dict[str, int] = field(default_factory=dict)
    cache_hits: int = 0
    cache_misses: int = 0
    cache_invalidations: int = 0


def stats(gateway: Gateway) -> StoreStats:
    cache = gateway.cache
    errors = dict(gateway.errors)
    if cache is None:
        return StoreStats(errors)
    return StoreStats(errors, cache.hits, cache.misses, cache.invalidations)


async def check(gateway: Gateway, name: str) -> bool:
    """Whether ``name`` (one of :data:`CHECKS`) holds now; raises ``StoreUnavailable``.

    ``scripts``: every Lua script is in Redis's script cache, the missing ones loaded now
    (a restarted Redis has none; the first requests would each pay a reload). ``cache``:
    the invalidation connection is subscribed and answering (true when the cache is off).
    """
    if name == "redis":
        return await gateway.ping()
    if name == "scripts":
        if gateway.cluster:  # SCRIPT LOAD reaches every primary; EXISTS answers for one
            await gateway.load(*SCRIPTS)
            return True
        known = list(SCRIPTS)  # a request may make a script while EXISTS is answered
        with GUARD:
            present = await gateway.client.script_exists(*(s.sha for s in known))
        await gateway.load(*(s for s, there in zip(known, present, strict=True) if not there))
        return True
    cache = gateway.cache
    return cache is None or cache.live()
