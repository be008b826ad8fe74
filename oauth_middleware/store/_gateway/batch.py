"""Coalesced access-token reads for bearer-token checks (RFC 6750 §3): one MGET per loop tick.

Why: under concurrency the Redis client's own per-command cost (building,
sending, parsing and retrying one command in Python) dominates a lookup, not
Redis. Requests that arrive together are resolved together: each :meth:`get`
queues its key and waits; at the end of the current loop iteration one ``MGET``
(a plain ``GET`` for a batch of one) fetches every queued key in one round
trip, and each waiter gets its own value. Every lookup still reads Redis; a key
asked for twice in one batch is read twice. Failures are per waiter: each one
raises its own :class:`StoreUnavailable`, so every request answers 503 on its
own, within the client's timeouts (a frozen Redis stays bounded to ~2 s).

Keys of one batch may name different grants, hence different cluster slots: a
Redis Cluster client would have to split the batch by slot first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from oauth_middleware.store._gateway.connection import STORE_ERRORS, unavailable

logger = logging.getLogger("oauth_middleware.store")

Value = bytes | None


class Batcher:
    """One MGET per loop iteration for every :meth:`get` queued during it."""

    __slots__ = ("_client", "_keys", "_loop", "_tasks", "_waiters")

    def __init__(self, client: Callable[[], aioredis.Redis]) -> None:
        #: Looked up at send time, so a client swapped on the store is the one used.
        self._client = client
        self._keys: list[str] = []
        self._waiters: list[asyncio.Future[Value]] = []
        #: Strong references to the fetches in flight (the loop keeps only weak ones).
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def get(self, key: str) -> asyncio.Future[Value]:
        """A future for the value of ``key``, fetched with the rest of this tick's keys."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A batch queued on a loop that stopped before flushing it would block every
            # later lookup; its waiters belong to that loop and can never be answered.
            self._keys, self._waiters, self._loop = [], [], loop
        waiter: asyncio.Future[Value] = loop.create_future()
        if not self._keys:
            loop.call_soon(self._flush, loop)
        self._keys.append(key)
        self._waiters.append(waiter)
        return waiter

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop or not self._keys:
            return
        keys, waiters = self._keys, self._waiters
        self._keys, self._waiters = [], []
        task = loop.create_task(self._fetch(keys, waiters))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch(self, keys: list[str], waiters: list[asyncio.Future[Value]]) -> None:
        try:
            client = self._client()
            values: list[Any] = (
                [await client.get(keys[0])] if len(keys) == 1 else await client.mget(keys)
            )
        except STORE_ERRORS as exc:
            logger.warning("token store unavailable: %s", type(exc).__name__)
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(unavailable(exc))
            return
        except asyncio.CancelledError:
            for waiter in waiters:
                waiter.cancel()
            raise
        except Exception as exc:  # a bug, not an outage: let each request see it
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
            return
        for waiter, value in zip(waiters, values, strict=True):
            if not waiter.done():
                waiter.set_result(value)
