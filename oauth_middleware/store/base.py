"""Shared state of the store parts: the Redis client, the key schema, the clock, the scripts."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from oauth_middleware.store.batch import Batcher
from oauth_middleware.store.cache import TokenCache
from oauth_middleware.store.connection import GUARD, StoreUnavailable
from oauth_middleware.store.keys import DEFAULT_PREFIX, Keys
from oauth_middleware.store.pipelines import Command, Pipelines, Replies

Clock = Callable[[], float]
#: ``progress(done, total)``: told how far a long operation has come.
Progress = Callable[[int, int], None]

#: Live grants one user keeps by default: every device and app of one person, each grant
#: living 30 days past its last refresh, with room to spare. One more revokes the grant
#: that expires first (for refresh grants, the one refreshed longest ago).
GRANTS_PER_USER = 100
#: Live grants one client keeps by default as itself (client credentials): a fleet of
#: instances, each with a token or two; a client minting one per request loses its oldest.
GRANTS_PER_CLIENT = 1000
#: Largest cap either setting accepts.
MAX_GRANTS = 100_000


def check_grant_cap(value: int, name: str, default: int) -> None:
    """``ValueError`` unless ``value`` is a whole number from 1 to :data:`MAX_GRANTS`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_GRANTS:
        raise ValueError(f"{name} must be a whole number of live grants from 1 to "
                         f"{MAX_GRANTS}, e.g. {name}={default}")


class Script:
    """A Lua script called by SHA; loaded on first use and again after a Redis restart."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


class StoreBase:
    """Holds what every part of :class:`~oauth_middleware.store.TokenStore` needs."""

    def __init__(
        self, redis: aioredis.Redis, *, prefix: str = DEFAULT_PREFIX, clock: Clock = time.time,
        max_grants_per_user: int = GRANTS_PER_USER, max_grants_per_client: int = GRANTS_PER_CLIENT,
    ) -> None:
        if not prefix or any(ch in prefix for ch in "{}*?[] "):
            raise ValueError("prefix must be non-empty without braces, globs or spaces, e.g. 'om:'")
        check_grant_cap(max_grants_per_user, "max_grants_per_user", GRANTS_PER_USER)
        check_grant_cap(max_grants_per_client, "max_grants_per_client", GRANTS_PER_CLIENT)
        #: Live grants of one user at most; past it, issuing revokes the first to expire.
        self.max_grants_per_user = max_grants_per_user
        #: ... of one client as itself (client credentials).
        self.max_grants_per_client = max_grants_per_client
        self.redis = redis
        self.keys = Keys(prefix)
        self.clock = clock
        #: Coalesces the token lookups of one loop iteration into one MGET.
        self.reads = Batcher(lambda: self.redis)
        #: Coalesces the command lists of one loop iteration into one round trip.
        self.pipelines = Pipelines(lambda: self.redis)
        #: The opt-in local cache of validated tokens (``from_url(url, local_cache=True)``).
        self.cache: TokenCache | None = None
        #: True for the in-process fakeredis store (``from_url(None)``).
        self.embedded = False
        #: Per client id, the scopes its last token-family request needed (:mod:`.authn`).
        self.scope_hints: dict[str, frozenset[str]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(prefix={self.keys.prefix!r}, embedded={self.embedded})"

    def forget(self, key: str) -> None:
        """This process wrote ``key``: the local cache drops it now, not when Redis says so."""
        if self.cache is not None:
            self.cache.forget(key)

    def forget_all(self, keys: Sequence[Any]) -> None:
        """:meth:`forget` every key of a script's reply (the keys it deleted)."""
        if self.cache is not None:
            for key in self.texts(keys):
                self.cache.forget(key)

    async def settled(self) -> None:
        """After a write of keys the local cache tracks: one more round trip (cache on only).

        Redis answers a write and sends its invalidations in the same event-loop turn,
        in no fixed order; a command sent after that answer is served in a later turn,
        once everything queued in the first was written. So when this returns, every
        worker's invalidation connection has the message (see :mod:`.cache`).
        """
        if self.cache is not None:
            await self.send([("PING",)])

    def now_ms(self) -> int:
        """The store's clock in whole milliseconds, as the Lua scripts take it."""
        return int(self.clock() * 1000)

    @staticmethod
    def ttl_ms(lifetime: float | None) -> int:
        """Script TTL argument: milliseconds, ``0`` for "never expires"."""
        return 0 if lifetime is None else max(1, int(lifetime * 1000))

    @staticmethod
    def texts(values: Sequence[Any]) -> list[str]:
        """Redis replies as text: bytes decoded as UTF-8, anything else through ``str``."""
        return [v.decode() if isinstance(v, bytes) else str(v) for v in values]

    @staticmethod
    def evalsha(script: Script, keys: Sequence[str], args: Sequence[Any]) -> Command:
        """The ``EVALSHA`` command running ``script`` over ``keys`` with ``args``."""
        return ("EVALSHA", script.sha, len(keys), *keys, *args)

    async def send(self, commands: Sequence[Command]) -> Replies:
        """Send ``commands`` in one round trip (shared with this loop tick's others, see
        :mod:`.pipelines`); error replies stay in place, for the caller to judge."""
        with GUARD:
            return await self._exchange(commands)

    async def _exchange(self, commands: Sequence[Command]) -> Replies:
        try:
            return await self.pipelines.send(commands)
        except StoreUnavailable as exc:
            raise exc.with_traceback(None) from None  # nothing of the failure may travel with it

    async def run(self, commands: Sequence[Command], *scripts: Script) -> list[Any]:
        """Send ``commands`` in one round trip; an error reply fails the call.

        Scripts go by SHA; when Redis does not know one (first use, or a restart
        emptied its script cache) they are loaded and the commands are sent again.
        Every command must therefore be idempotent up to its first ``EVALSHA``,
        which holds: a script that is missing runs nothing.
        """
        with GUARD:
            for attempt in range(2):
                replies = await self._exchange(commands)
                error = next((r for r in replies if isinstance(r, ResponseError)), None)
                if error is None:
                    return replies
                if attempt or not isinstance(error, NoScriptError):
                    raise error
                for script in scripts:
                    await self.redis.script_load(script.source)
        raise AssertionError("unreachable")  # pragma: no cover
