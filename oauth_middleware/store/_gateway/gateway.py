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
* ``run(..., durable=True)``: the write must reach ``min_replicas`` replicas, or the
  call fails with :class:`.durability.StoreNotDurable` (a 503) (:mod:`.durability`).

On a Redis Cluster (``redis+cluster://``) the same calls go through
:mod:`.cluster`: every command and script routed by its first key's slot, one
pipeline per node, the per-tick batch one ``MGET`` per slot. Nothing above this
object changes: every command names its key first.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError, ResponseError

from oauth_middleware.store._gateway.batch import Batcher
from oauth_middleware.store._gateway.cache import CACHE_SIZE, TokenCache
from oauth_middleware.store._gateway.cluster import ClusterPipelines, ClusterReader, ClusterRouter
from oauth_middleware.store._gateway.cluster_cache import ClusterTokenCache
from oauth_middleware.store._gateway.cluster_nodes import (
    cluster_health,
    connected_replicas,
    scan_page,
)
from oauth_middleware.store._gateway.connection import (
    CONNECT_TIMEOUT,
    GUARD,
    RETRIES,
    SOCKET_TIMEOUT,
    StoreRefused,
    StoreUnavailable,
    dedicated,
    embedded,
)
from oauth_middleware.store._gateway.durability import (
    REPLICA_TIMEOUT,
    Durability,
    StoreNotDurable,
    Wait,
    check_durability,
)
from oauth_middleware.store._gateway.health import EMBEDDED, RedisHealth
from oauth_middleware.store._gateway.health import check as check_health
from oauth_middleware.store._gateway.invalidation import database_generation
from oauth_middleware.store._gateway.pipeline import Pipelines
from oauth_middleware.store._gateway.readthrough import Step, read_through
from oauth_middleware.store._gateway.script import Command, Replies, Script
from oauth_middleware.store._gateway.urls import open_url

T = TypeVar("T")
logger = logging.getLogger("oauth_middleware.store")


class Gateway:
    """A Redis connection with the store's timeouts, batching and (opt-in) local cache."""

    def __init__(self, client: aioredis.Redis | RedisCluster, *, embedded: bool = False,
                 durability: Durability | None = None) -> None:
        #: The redis-py client; nothing outside this package may use it (tests' helpers do).
        self.client: Any = client
        #: True for the in-process fakeredis store.
        self.embedded = embedded
        #: How many replicas a durable write waits for (always none when embedded).
        self.durability = Durability(0) if embedded else durability or Durability()
        #: The opt-in local cache (:meth:`track`); None when off.
        self.cache: TokenCache | None = None
        #: Redis failures so far, by kind ("unavailable", "refused", "not_durable"): plain
        #: counts, read by a metrics collector when it is scraped, free on the hot path.
        self.errors: Counter[str] = Counter()
        self._batch = Batcher(lambda: self.client)
        self._pipelines = Pipelines(lambda: self.client)
        #: True on a Redis Cluster (:mod:`.cluster`).
        self.cluster = isinstance(client, RedisCluster)
        self._router: ClusterRouter | None = None
        if isinstance(client, RedisCluster):
            self._router = router = ClusterRouter(client)
            reader = ClusterReader(router)
            self._batch = Batcher(lambda: reader)  # type: ignore[arg-type,return-value]
            self._pipelines = ClusterPipelines(router)

    @classmethod
    def connect(cls, url: str | None, *, connect_timeout: float = CONNECT_TIMEOUT,
                socket_timeout: float = SOCKET_TIMEOUT, retries: int = RETRIES,
                min_replicas: int | None = None, replica_timeout: int = REPLICA_TIMEOUT
                ) -> Gateway:
        """A gateway to ``url`` (every form of :mod:`.urls`); embedded when None.

        :class:`.urls.RedisURLError` (a ``ValueError``) for a URL that is not one of them;
        ``ValueError`` for durability settings that cannot work, or ``min_replicas`` above
        0 for the embedded store, which has no replica to wait for.
        """
        check_durability(min_replicas, replica_timeout, socket_timeout)
        if url is None:
            if min_replicas:
                raise ValueError("the embedded store has no replicas: min_replicas must be "
                                 "0 or None")
            return cls(embedded(), embedded=True)
        return cls(open_url(url, connect_timeout=connect_timeout,
                            socket_timeout=socket_timeout, retries=retries),
                   durability=Durability(min_replicas, replica_timeout))

    async def health(self, *, allow_eviction: bool = False) -> RedisHealth:
        """What the server's configuration may lose (:mod:`.health`); nothing when embedded."""
        if self.embedded:
            return RedisHealth(notes=(EMBEDDED,))
        if self.cluster:
            return await cluster_health(self.client, allow_eviction=allow_eviction)
        return await check_health(self.client, allow_eviction=allow_eviction)

    def track(self, prefixes: Sequence[str], *, generation_key: str,
              size: int = CACHE_SIZE) -> None:
        """Turn the local cache on for keys under ``prefixes`` (ignored when embedded: the
        embedded store is in process already). On a cluster, one invalidation connection
        per primary (:mod:`.cluster_cache`); a cluster has no ``SWAPDB``, so no generation."""
        if self.embedded:
            return
        if self._router is not None:
            self.cache = ClusterTokenCache(self._router, *prefixes, size=size)
            return
        client = self.client

        async def generation() -> bytes | None:
            return await database_generation(client, generation_key)

        self.cache = TokenCache(lambda: dedicated(client), *prefixes, size=size,
                                generation=generation)

    def new_id_near(self, key: str, new_id: Callable[[], str]) -> str:
        """``new_id()``; on a cluster, one whose keys (tagged with it) sit on the node that
        holds ``key``, when a few draws find one (:meth:`.cluster.ClusterRouter.near`)."""
        if self._router is None:
            return new_id()
        return self._router.near(key, new_id)

    async def send(self, commands: Sequence[Command]) -> Replies:
        """Send ``commands`` in one round trip (shared with this loop tick's others, see
        :mod:`.pipeline`); error replies stay in place, for the caller to judge."""
        with GUARD:
            return await self._exchange(commands)

    async def _exchange(self, commands: Sequence[Command], wait: Wait | None = None
                        ) -> Replies:
        try:
            return await self._pipelines.send(commands, wait)
        except StoreNotDurable as exc:
            self.errors["not_durable"] += 1
            self.durability.stale()
            logger.warning("token store write not confirmed by %d replica(s) within %d ms",
                           *exc.wait)
            raise exc.with_traceback(None) from None
        except StoreUnavailable as exc:
            self._failed(exc)
            self.durability.stale()  # perhaps a failover: learn the new primary's replicas
            raise exc.with_traceback(None) from None  # nothing of the failure may travel with it

    async def _replicas(self) -> int:
        """The primary's ``connected_slaves`` (``INFO replication``). An ACL user refused
        ``INFO`` cannot learn it: auto then stays 0 for good, said once in the log, as the
        configuration check goes on without what it may not read."""
        try:
            if self.cluster:
                return await connected_replicas(self.client)
            info = await self.client.info("replication")
        except ResponseError:
            logger.warning("min_replicas auto: INFO is refused, so no WAIT is sent; pass "
                           "min_replicas=1 when the primary has replicas, or allow +info")
            self.durability.min_replicas = 0
            return 0
        return int(info.get("connected_slaves", 0))

    async def run(self, commands: Sequence[Command], *scripts: Script,
                  durable: bool = False) -> list[Any]:
        """Send ``commands`` in one round trip; an error reply fails the call.

        Scripts go by SHA; when Redis does not know one (first use, or a restart
        emptied its script cache) they are loaded and the commands are sent again.
        Every command must therefore be idempotent up to its first ``EVALSHA``,
        which holds: a script that is missing runs nothing.

        ``durable``: the writes must reach ``min_replicas`` replicas (:mod:`.durability`);
        :class:`.durability.StoreNotDurable` when they did not in time, though they are
        done on the primary.
        """
        if not commands:
            return []
        with GUARD:
            wait = await self.durability.wait(self._replicas) if durable else None
            for attempt in range(2):
                replies, short = await self._judged(commands, wait)
                error = next((r for r in replies if isinstance(r, ResponseError)), None)
                if error is None and short is None:
                    return replies
                if attempt or not isinstance(error, NoScriptError):
                    if error is not None:
                        self.errors["refused"] += 1
                    raise error or cast(StoreNotDurable, short)
                for script in scripts:  # a missing script ran nothing: load it and resend
                    await self.client.script_load(script.source)
        raise AssertionError("unreachable")  # pragma: no cover

    async def load(self, *scripts: Script) -> None:
        """Load ``scripts`` now (on every primary of a cluster): for a caller about to send
        one of them to many keys, whose first round trip would otherwise come back as one
        ``NOSCRIPT`` error per key before :meth:`run` loads it."""
        with GUARD:
            for script in scripts:
                await self.client.script_load(script.source)

    async def _judged(self, commands: Sequence[Command], wait: Wait | None
                      ) -> tuple[Replies, StoreNotDurable | None]:
        """The replies, and the failure when ``wait`` fell short: a missing script is then
        loaded and resent as usual, not refused for the replicas of a write that never ran."""
        try:
            return await self._exchange(commands, wait), None
        except StoreNotDurable as short:
            return short.replies, short

    async def one(self, command: Command, *scripts: Script, durable: bool = False) -> Any:
        """The reply to one command (:meth:`run`)."""
        (reply,) = await self.run([command], *scripts, durable=durable)
        return reply

    async def get(self, key: str) -> bytes | None:
        """The value of ``key``, read with every other key asked in this loop iteration."""
        try:
            return await self._batch.get(key)
        except StoreUnavailable as exc:
            self._failed(exc)
            raise exc.with_traceback(None) from None

    async def read(self, key: str, decode: Callable[[bytes], T]) -> T | None:
        """``decode`` of ``key``'s value (None: absent), from the local cache while Redis has
        not invalidated it, else from :meth:`get` (kept when nothing invalidated it meanwhile).
        """
        cache = self.cache
        if cache is not None:
            kept = cache.get(key)
            if kept is not None:
                cache.hits += 1
                return cast(T, kept)
            cache.misses += 1
            epoch = cache.begin(key)
        record = None
        try:
            raw = await self._batch.get(key)  # not self.get: one frame less on the hot path
            record = None if raw is None else decode(raw)
        except StoreUnavailable as exc:
            self._failed(exc)
            raise exc.with_traceback(None) from None
        finally:
            if cache is not None:
                cache.finish(key, epoch, record)
        return record

    async def read_through(self, steps: Sequence[Step]) -> list[Any]:
        """Every step's answer, in order; what the local cache lacks costs one round trip."""
        return await read_through(self.cache, steps, self.run)

    def _failed(self, exc: StoreUnavailable) -> None:
        self.errors["refused" if isinstance(exc, StoreRefused) else "unavailable"] += 1

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
        worker's invalidation connection has the message (see :mod:`.cache`); on a
        cluster the round trip goes to every primary at once.
        """
        if self.cache is None:
            return
        if self._router is None:
            await self.send([("PING",)])
            return
        with GUARD:  # on a cluster, each primary that took a write sends its invalidations
            await self._router.everywhere(("PING",))

    async def scan(self, cursor: int, pattern: str, count: int) -> tuple[int, list[str]]:
        """One ``SCAN`` page of keys matching ``pattern``: of every primary on a cluster
        (:func:`.cluster.scan_page`); pass the cursor back, 0 = done."""
        with GUARD:
            if self._router is not None:
                next_cursor, keys = await scan_page(self._router, cursor, pattern, count)
            else:
                next_cursor, keys = await self.client.scan(cursor, match=pattern, count=count)
        return int(next_cursor), texts(keys)

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
