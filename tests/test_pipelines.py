"""Coalesced pipelines for the token family (store/_gateway/pipeline.py): one round trip per loop
iteration, each caller gets exactly its own replies, failures reach every caller."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from oauth_middleware.store import StoreUnavailable, TokenStore
from tests.store_helpers import gateway, redis_of

#: Drives one node's client and connection pool (a cluster's go by node: tests/test_cluster.py).
pytestmark = pytest.mark.not_on_cluster


class Trips:
    """Counts connections taken from the store's pool: one per round trip."""

    def __init__(self, store: TokenStore) -> None:
        self.pool = redis_of(store).connection_pool
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
    await redis_of(store).set("k1", b"one")
    await redis_of(store).set("k2", b"two")
    with Trips(store) as trips:
        first, second, third = await asyncio.gather(
            gateway(store).send([("GET", "k1"), ("GET", "missing")]),
            gateway(store).send([("GET", "k2")]),
            gateway(store).send([("INCR", "counter"), ("INCR", "counter")]),
        )
    assert trips.count == 1
    assert first == [b"one", None] and second == [b"two"] and third == [1, 2]


async def test_an_error_reply_stays_with_its_own_caller(store: TokenStore) -> None:
    await redis_of(store).set("text", b"not a hash")
    ok, bad = await asyncio.gather(gateway(store).send([("GET", "text")]),
                                   gateway(store).send([("HGET", "text", "f"), ("GET", "text")]))
    assert ok == [b"not a hash"]
    assert isinstance(bad[0], ResponseError) and bad[1] == b"not a hash"
    with pytest.raises(StoreUnavailable):
        await gateway(store).run([("HGET", "text", "f")])


async def test_a_lost_connection_fails_every_caller_of_the_batch(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def lost(self: Connection, *args: Any, **kwargs: Any) -> None:
        raise RedisConnectionError("injected: connection lost")

    cls = redis_of(store).connection_pool.connection_class
    monkeypatch.setattr(cls, "send_packed_command", lost)
    send = gateway(store).send
    results = await asyncio.gather(send([("GET", "a")]), send([("GET", "b")]),
                                   return_exceptions=True)
    assert [type(r) for r in results] == [StoreUnavailable, StoreUnavailable]
    assert all(r.__cause__ is None and r.__suppress_context__ for r in results
               if isinstance(r, BaseException))
