"""Coalesced pipelines for the token family (store/pipelines.py): one round trip per loop
iteration, each caller gets exactly its own replies, failures reach every caller."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from oauth_middleware.store import StoreUnavailable, TokenStore


class Trips:
    """Counts connections taken from the store's pool: one per round trip."""

    def __init__(self, store: TokenStore) -> None:
        self.pool = store.redis.connection_pool
        self.original: Any = self.pool.get_connection
        self.count = 0

    async def _counting(self, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        return await self.original(*args, **kwargs)

    def __enter__(self) -> Trips:
        self.pool.get_connection = self._counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.get_connection = self.original  # type: ignore[method-assign]


async def test_lists_sent_in_one_tick_share_one_round_trip_and_keep_their_own_replies(
    store: TokenStore,
) -> None:
    await store.redis.set("k1", b"one")
    await store.redis.set("k2", b"two")
    with Trips(store) as trips:
        first, second, third = await asyncio.gather(
            store.send([("GET", "k1"), ("GET", "missing")]),
            store.send([("GET", "k2")]),
            store.send([("INCR", "counter"), ("INCR", "counter")]),
        )
    assert trips.count == 1
    assert first == [b"one", None] and second == [b"two"] and third == [1, 2]


async def test_an_error_reply_stays_with_its_own_caller(store: TokenStore) -> None:
    await store.redis.set("text", b"not a hash")
    ok, bad = await asyncio.gather(store.send([("GET", "text")]),
                                   store.send([("HGET", "text", "f"), ("GET", "text")]))
    assert ok == [b"not a hash"]
    assert isinstance(bad[0], ResponseError) and bad[1] == b"not a hash"
    with pytest.raises(StoreUnavailable):
        await store.run([("HGET", "text", "f")])


async def test_a_lost_connection_fails_every_caller_of_the_batch(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def lost(self: Connection, *args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("injected: connection lost")

    cls = store.redis.connection_pool.connection_class
    monkeypatch.setattr(cls, "send_packed_command", lost)
    results = await asyncio.gather(store.send([("GET", "a")]), store.send([("GET", "b")]),
                                   return_exceptions=True)
    assert [type(r) for r in results] == [StoreUnavailable, StoreUnavailable]
    assert all(r.__cause__ is None and r.__suppress_context__ for r in results
               if isinstance(r, BaseException))
