"""An opt-in local cache of validated access tokens (RFC 6750 §3) and of what the token family
reads on every request (RFC 6749 §2.3.1, §3.3), invalidated by Redis itself.

``TokenStore.from_url(url, local_cache=True)``. Revocation stays exact because
Redis, not a TTL, says when an entry is stale: a dedicated connection turns on
``CLIENT TRACKING ... BCAST PREFIX <prefix> ...`` redirected to itself for the
access-token, client and scope-registry keys (:attr:`Keys.tracked_prefixes`)
and subscribes to ``__redis__:invalidate``, so every write, delete or expiry of
such a key reaches every worker as a message naming it. Throttle counters are
not tracked: unauthenticated requests write them, and each write would be a
message to every worker; they are read from Redis every time.

Access tokens are kept in :attr:`TokenCache.entries`; the token family's raw
replies (a client record, the scope registry, or the fact that the key does not
exist) in :attr:`TokenCache.records`. A write this process makes itself also
drops its key at once (:meth:`TokenCache.forget`), so the writing worker never
waits for its own invalidation.

The rules that keep it exact:

* A hit is served only while nothing is pending on the invalidation connection.
  Its messages are applied the moment the event loop reads them
  (:mod:`.invalidation`), and before a hit the cache checks, without blocking,
  that the kernel holds no unread byte for that socket; if it does, the read
  goes to Redis instead. So a hit is never served while an invalidation that
  already reached this host waits unread.
* Redis writes a change's invalidation to every tracking connection in the same
  event-loop turn as it answers the change, and writes everything queued at the
  end of that turn. A revocation here is answered only after one more round trip
  (:meth:`Gateway.settled`), which Redis serves in a later turn: by then every
  tracking socket on every worker holds the invalidation. On one host, a request
  sent after a revocation returned is refused by every worker; across hosts the
  network's delivery time is added, bounded by the lease below.
* A hit is served only while the connection is proven live: each PING answered
  extends a lease from the moment the PING was sent. Messages on one connection
  arrive in order, so a PONG proves every invalidation Redis sent before it was
  applied. A silent connection stops the cache serving within ``lease`` seconds.
* Redis sends no invalidation for ``SWAPDB``: each heartbeat also reads a random
  generation value kept in the store's database (:func:`database_generation`);
  when it changed, the cache is flushed before the lease is extended, so a
  swapped database is noticed within ``lease`` seconds (one heartbeat, typically).
  A flush of any database is an invalidation naming no key: everything goes.
* A lost connection flushes everything and the cache serves nothing until a new
  connection is subscribed; establishing one flushes again, so no record read
  before tracking began is ever kept.
* A record is kept only under a key Redis tracks (one of ``prefixes``), and only
  if no invalidation of its key (and no flush) arrived while it was being read.
* Expiry is still checked on every hit by the caller.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio.connection import AbstractConnection

from oauth_middleware.store._gateway.connection import STORE_ERRORS
from oauth_middleware.store._gateway.invalidation import Invalidations

logger = logging.getLogger("oauth_middleware.store")

#: Redis's own channel for client-side caching invalidations (RESP2 redirect mode).
INVALIDATION_CHANNEL = "__redis__:invalidate"
#: Seconds between two heartbeats on the invalidation connection.
HEARTBEAT = 0.25
#: Seconds a heartbeat answer lets the cache serve hits, counted from when it was sent.
LEASE = 1.0
#: Seconds to wait before connecting again after losing the invalidation connection.
RECONNECT_DELAY = 0.5
#: What ends an invalidation session (then: flush, stop serving, reconnect).
_LOST: tuple[type[BaseException], ...] = (*STORE_ERRORS, ValueError)
#: Records kept at most; the oldest goes first.
CACHE_SIZE = 50_000
#: Stands for "no reply kept" (a kept reply may itself be None: the key does not exist).
MISS: Any = object()


#: Reads the store database's generation (see :func:`.invalidation.database_generation`).
Generation = Callable[[], Awaitable[bytes | None]]


class TokenCache:
    """Records by Redis key, valid while Redis has not said otherwise."""

    def __init__(self, connect: Callable[[], AbstractConnection], *prefixes: str,
                 size: int = CACHE_SIZE, heartbeat: float = HEARTBEAT,
                 lease: float = LEASE, generation: Generation | None = None) -> None:
        if size < 1 or heartbeat <= 0 or lease <= heartbeat or not prefixes:
            raise ValueError("cache size must be positive, lease longer than heartbeat, "
                             "and at least one key prefix tracked")
        self._connect = connect
        self._generation = generation
        self._seen_generation: bytes | None = None
        self._link: Invalidations | None = None
        self.prefixes = prefixes
        self.size, self.heartbeat, self.lease = size, heartbeat, lease
        #: Decoded records (access tokens), by key.
        self.entries: dict[str, Any] = {}
        #: Raw replies of the token family's reads, by key (see the module docstring).
        self.records: dict[str, Any] = {}
        #: Invalidation messages applied so far, and when the last one was (monotonic clock).
        self.invalidations = 0
        self.last_invalidation = 0.0
        #: Reads answered here, and reads that went to Redis while the cache was on.
        self.hits = 0
        self.misses = 0
        self._serving_until = 0.0
        self._epoch = 0
        self._reading: dict[str, int] = {}
        self._spoiled: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def serving(self) -> bool:
        return time.monotonic() < self._serving_until

    def get(self, key: str) -> Any:
        """The cached record, or None: not cached, or the cache is not proven live now."""
        return self.entries.get(key) if self.live() else None

    def live(self) -> bool:
        """Whether hits may be served now (starting the listener on this loop if needed);
        :attr:`records` may then be read directly. Not while an invalidation that reached
        this host is unread: that costs one poll of the socket, never a wait."""
        if self._loop is not asyncio.get_running_loop():
            self._start()
        link = self._link
        return (time.monotonic() < self._serving_until and link is not None
                and not link.pending())

    def begin(self, key: str) -> int:
        """Note that ``key`` is being read from Redis; pass the result to :meth:`finish`."""
        self._reading[key] = self._reading.get(key, 0) + 1
        return self._epoch

    def finish(self, key: str, epoch: int, record: Any) -> None:
        """Keep ``record`` unless anything invalidated it while it was read."""
        if self._settle(key, epoch) and record is not None:
            _put(self.entries, key, record, self.size)

    def keep(self, key: str, epoch: int, value: Any) -> None:
        """:meth:`finish` for a raw reply (``MISS``: the read failed, keep nothing)."""
        if self._settle(key, epoch) and value is not MISS:
            _put(self.records, key, value, self.size)

    def _settle(self, key: str, epoch: int) -> bool:
        """End one read of ``key``; True when nothing invalidated it meanwhile (and Redis
        tracks it: a key outside ``prefixes`` would never be invalidated)."""
        fresh = (epoch == self._epoch and key not in self._spoiled and self.serving
                 and self._tracks(key))
        left = self._reading[key] - 1
        if left:
            self._reading[key] = left
        else:
            del self._reading[key]
            self._spoiled.discard(key)
        return fresh

    def _tracks(self, key: str) -> bool:
        """Whether Redis sends this cache the invalidations of ``key``."""
        return key.startswith(self.prefixes)

    def forget(self, key: str) -> None:
        """This process changed ``key``: drop it now, and spoil reads of it in flight."""
        self.entries.pop(key, None)
        self.records.pop(key, None)
        if key in self._reading:
            self._spoiled.add(key)

    def flush(self) -> None:
        self.entries.clear()
        self.records.clear()
        self._epoch += 1
        self._spoiled.update(self._reading)

    def _invalidate(self, keys: list[bytes] | None) -> None:
        self.invalidations += 1
        self.last_invalidation = time.monotonic()
        if keys is None:
            self.flush()
            return
        for raw in keys:
            self.forget(raw.decode("utf-8", "replace"))

    def _stop_serving(self) -> None:
        self._serving_until = 0.0
        self.flush()

    def _start(self) -> None:
        """(Re)start the listener on the running loop; a listener of another loop is dropped."""
        self._stop_serving()
        old, old_loop = self._task, self._loop
        if old is not None and old_loop is not None and not old_loop.is_closed():
            old_loop.call_soon_threadsafe(old.cancel)
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._listen(), name="oauth-token-cache")

    async def aclose(self) -> None:
        task, self._task, self._loop = self._task, None, None
        self._stop_serving()
        if task is not None and task.get_loop() is asyncio.get_running_loop():
            task.cancel()
            await asyncio.wait([task])

    async def _listen(self) -> None:
        while True:
            conn = self._connect()
            try:
                await self._session(conn)
            except _LOST as exc:
                logger.warning("token cache: invalidation connection lost (%s); cache off "
                               "until it is back", type(exc).__name__)
            finally:
                self._link = None
                self._stop_serving()
                await conn.disconnect(nowait=True)
            await asyncio.sleep(RECONNECT_DELAY)

    async def _session(self, conn: AbstractConnection) -> None:
        """Subscribe, then heartbeat until the connection fails or stops answering.

        No read here runs under a timeout context: every wait is bounded with
        :func:`asyncio.wait`, which never swallows a cancellation, so shutting
        the loop down always ends this task.
        """
        link = await self._subscribed(conn)
        ask = functools.partial(link.ask, timeout=self.lease)
        self._link = link
        self.flush()  # anything read before tracking began may have missed its invalidation
        while True:
            sent = time.monotonic()
            await self._heartbeat(ask("PING"))
            self._serving_until = sent + self.lease
            await asyncio.sleep(max(0.0, sent + self.heartbeat - time.monotonic()))

    async def _subscribed(self, conn: AbstractConnection) -> Invalidations:
        """Connect ``conn``, turn tracking on for :attr:`prefixes` redirected to itself, and
        subscribe it to the invalidations (each wait bounded by the lease)."""
        await _bounded(asyncio.ensure_future(conn.connect()), self.lease)  # type: ignore[no-untyped-call]
        link = Invalidations.take_over(conn, self._invalidate, INVALIDATION_CHANNEL)
        ask = functools.partial(link.ask, timeout=self.lease)
        client_id = await ask("CLIENT", "ID")
        prefixes = [arg for prefix in self.prefixes for arg in ("PREFIX", prefix)]
        await ask("CLIENT", "TRACKING", "ON", "REDIRECT", client_id, "BCAST", *prefixes)
        await ask("SUBSCRIBE", INVALIDATION_CHANNEL)
        return link

    async def _heartbeat(self, pong: Awaitable[Any]) -> None:
        """Wait for the PONG and, alongside, read the database generation; a new one
        (a ``SWAPDB``, a flush) empties the cache before the lease is extended."""
        asked = [pong] if self._generation is None else [pong, self._generation()]
        answers = await all_answered(asked, self.lease)
        if len(answers) == 2 and answers[1] != self._seen_generation:
            self.flush()
            self._seen_generation = answers[1]


def _put(entries: dict[str, Any], key: str, value: Any, size: int) -> None:
    if key not in entries and len(entries) >= size:
        del entries[next(iter(entries))]
    entries[key] = value


async def _bounded(task: asyncio.Future[Any], seconds: float) -> Any:
    """``await task`` for at most ``seconds``; cancelled with the caller or on time-out."""
    try:
        done, _ = await asyncio.wait([task], timeout=seconds)
    finally:
        if not task.done():
            task.cancel()
    if not done:
        raise TimeoutError("no connection to Redis in time")
    return task.result()


async def all_answered(asked: list[Awaitable[Any]], timeout: float) -> list[Any]:
    """Every answer of ``asked``, awaited together, within ``timeout`` seconds: a heartbeat
    counts only when all of its questions came back; the first failure, or
    ``TimeoutError`` when one is late, ends it (what is left is cancelled)."""
    waits = [asyncio.ensure_future(one) for one in asked]
    try:
        done, _ = await asyncio.wait(waits, timeout=timeout)
    finally:
        for wait in waits:
            wait.cancel()
    failures = [exc for wait in done if (exc := wait.exception()) is not None]
    if failures:
        raise failures[0]
    if len(done) < len(waits):
        raise TimeoutError("no heartbeat answer in time")
    return [wait.result() for wait in waits]
