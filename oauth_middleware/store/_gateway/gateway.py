"""The one object that talks to Redis: connection, timeouts, 503 mapping, batching, local cache.

Repositories above it build commands (tuples, as redis-py packs them) and Lua
script calls (:func:`.script.evalsha`, keys named apart from arguments) and hand
them to :meth:`Gateway.run`; they never see redis-py. What the gateway does
with them:

* :meth:`Gateway.run` / :meth:`Gateway.send`: one pipelined round trip, shared
  with every other list queued in the same loop iteration (:mod:`.pipeline`);
  scripts go by SHA and are loaded when Redis does not know them.
* :meth:`Gateway.get`: the per-tick lookup batch, one ``MGET`` for every key
  asked in one loop iteration (:mod:`.batch`).
* :meth:`Gateway.read` / :meth:`Gateway.read_through`: reads through the
  invalidating local cache when it is on (:mod:`.cache`), and :meth:`forget` /
  :meth:`settled` after this process's own writes.
* Every Redis failure leaves as :class:`.connection.StoreUnavailable` (503),
  with nothing of the failure attached.

A single-node client today. Every command names its keys, and every script is
called with its keys, so a cluster client can route both, and the batch can
group its keys by slot, without a change above this object.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, ResponseError

from oauth_middleware.store._gateway.batch import Batcher
from oauth_middleware.store._gateway.cache import CACHE_SIZE, TokenCache
from oauth_middleware.store._gateway.connection import (
    CONNECT_TIMEOUT,
    GUARD,
    RETRIES,
    SOCKET_TIMEOUT,
    StoreUnavailable,
    dedicated,
    embedded,
)
from oauth_middleware.store._gateway.health import EMBEDDED, RedisHealth
from oauth_middleware.store._gateway.health import check as check_health
from oauth_middleware.store._gateway.invalidation import database_generation
from oauth_middleware.store._gateway.pipeline import Pipelines
from oauth_middleware.store._gateway.readthrough import Step, read_through
from oauth_middleware.store._gateway.script import Command, Replies, Script
from oauth_middleware.store._gateway.urls import connect_url

T = TypeVar("T")


class Gateway:
    """A Redis connection with the store's timeouts, batching and (opt-in) local cache."""

    def __init__(self, client: aioredis.Redis, *, embedded: bool = False) -> None:
        #: The redis-py client; nothing outside this package may use it (tests' helpers do).
        self.client = client
        #: True for the in-process fakeredis store.
        self.embedded = embedded
        #: The opt-in local cache (:meth:`track`); None when off.
        self.cache: TokenCache | None = None
        self._batch = Batcher(lambda: self.client)
        self._pipelines = Pipelines(lambda: self.client)

    @classmethod
    def connect(cls, url: str | None, *, connect_timeout: float = CONNECT_TIMEOUT,
                socket_timeout: float = SOCKET_TIMEOUT, retries: int = RETRIES) -> Gateway:
        """A gateway to ``url`` (every form of :mod:`.urls`); embedded when None.

        :class:`.urls.RedisURLError` (a ``ValueError``) for a URL that is not one of them.
        """
        if url is None:
            return cls(embedded(), embedded=True)
        return cls(connect_url(url, connect_timeout=connect_timeout,
                               socket_timeout=socket_timeout, retries=retries))

    async def health(self, *, allow_eviction: bool = False) -> RedisHealth:
        """What the server's configuration may lose (:mod:`.health`); nothing when embedded."""
        if self.embedded:
            return RedisHealth(notes=(EMBEDDED,))
        return await check_health(self.client, allow_eviction=allow_eviction)

    def track(self, prefixes: Sequence[str], *, generation_key: str,
              size: int = CACHE_SIZE) -> None:
        """Turn the local cache on for keys under ``prefixes`` (ignored when embedded: the
        embedded store is in process already)."""
        if self.embedded:
            return
        client = self.client

        async def generation() -> bytes | None:
            return await database_generation(client, generation_key)

        self.cache = TokenCache(lambda: dedicated(client), *prefixes, size=size,
                                generation=generation)

    async def send(self, commands: Sequence[Command]) -> Replies:
        """Send ``commands`` in one round trip (shared with this loop tick's others, see
        :mod:`.pipeline`); error replies stay in place, for the caller to judge."""
        with GUARD:
            return await self._exchange(commands)

    async def _exchange(self, commands: Sequence[Command]) -> Replies:
        try:
            return await self._pipelines.send(commands)
        except StoreUnavailable as exc:
            raise exc.with_traceback(None) from None  # nothing of the failure may travel with it

    async def run(self, commands: Sequence[Command], *scripts: Script) -> list[Any]:
        """Send ``commands`` in one round trip; an error reply fails the call.

        Scripts go by SHA; when Redis does not know one (first use, or a restart
        emptied its script cache) they are loaded and the commands are sent again.
        Every command must therefore be idempotent up to its first ``EVALSHA``,
        which holds: a script that is missing runs nothing.
        """
        if not commands:
            return []
        with GUARD:
            for attempt in range(2):
                replies = await self._exchange(commands)
                error = next((r for r in replies if isinstance(r, ResponseError)), None)
                if error is None:
                    return replies
                if attempt or not isinstance(error, NoScriptError):
                    raise error
                for script in scripts:
                    await self.client.script_load(script.source)
        raise AssertionError("unreachable")  # pragma: no cover

    async def one(self, command: Command, *scripts: Script) -> Any:
        """The reply to one command (:meth:`run`)."""
        (reply,) = await self.run([command], *scripts)
        return reply

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, read with every other key asked in this loop iteration."""
        try:
            return await self._batch.get(key)
        except StoreUnavailable as exc:
            raise exc.with_traceback(None) from None

    async def read(self, key: str, decode: Callable[[bytes], T]) -> T | None:
        """``decode`` of ``key``'s value (None: absent), from the local cache while Redis has
        not invalidated it, else from :meth:`get` (kept when nothing invalidated it meanwhile).
        """
        cache = self.cache
        if cache is not None:
            kept = cache.get(key)
            if kept is not None:
                return cast(T, kept)
            epoch = cache.begin(key)
        record = None
        try:
            raw = await self._batch.get(key)  # not self.get: one frame less on the hot path
            record = None if raw is None else decode(raw)
        except StoreUnavailable as exc:
            raise exc.with_traceback(None) from None
        finally:
            if cache is not None:
                cache.finish(key, epoch, record)
        return record

    async def read_through(self, steps: Sequence[Step]) -> list[Any]:
        """Every step's answer, in order; what the local cache lacks costs one round trip."""
        return await read_through(self.cache, steps, self.run)

    def forget(self, key: str) -> None:
        """This process wrote ``key``: the local cache drops it now, not when Redis says so."""
        if self.cache is not None:
            self.cache.forget(key)

    def forget_all(self, keys: Sequence[Any]) -> None:
        """:meth:`forget` every key of a script's reply (the keys it deleted)."""
        if self.cache is not None:
            for key in texts(keys):
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

    async def ping(self) -> bool:
        with GUARD:
            return bool(await self.client.ping())

    async def aclose(self) -> None:
        if self.cache is not None:
            await self.cache.aclose()
        await self.client.aclose()


def texts(values: Sequence[Any]) -> list[str]:
    """Replies as text (Redis answers bytes)."""
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]
