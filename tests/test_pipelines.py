"""Coalesced pipelines for the token family (store/_gateway/pipeline.py): one round trip per loop
iteration, each caller gets exactly its own replies, failures reach every caller."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis._parsers.hiredis import _AsyncHiredisParser
from redis.asyncio.connection import Connection
from redis.exceptions import BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from oauth_middleware.store import StoreUnavailable, TokenStore
from oauth_middleware.store._gateway import pipeline
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


async def test_replies_a_socket_read_took_in_are_not_read_again_through_redis_py(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One read of the socket takes in a whole batch's replies; the rest come from hiredis's
    reader as they are, error replies in their place: ``read_response`` (three coroutines, a
    timeout context and an error text per reply) is asked only for what is not in memory."""
    if gateway(store).embedded:
        pytest.skip("fakeredis's connection parses without hiredis's reader")
    original = _AsyncHiredisParser.read_response
    reads: list[int] = []

    async def counted(self: _AsyncHiredisParser, *args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(_AsyncHiredisParser, "read_response", counted)
    replies = await gateway(store).send([("SET", "k", "v"), ("GET", "k"), ("HGET", "k", "f"),
                                         ("GET", "missing"), ("INCR", "n")])
    assert replies[1:2] == [b"v"] and replies[3:] == [None, 1]
    assert isinstance(replies[2], ResponseError)
    assert len(reads) == 1


async def test_a_connection_that_reads_replies_its_own_way_is_asked_for_every_reply(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A connection class overriding ``read_response`` (tracing, fault injection) is not
    bypassed: each reply goes through it."""
    cls = redis_of(store).connection_pool.connection_class
    reads: list[int] = []

    class Traced(cls):  # type: ignore[valid-type, misc]
        async def read_response(self, *args: Any, **kwargs: Any) -> Any:
            reads.append(1)
            return await super().read_response(*args, **kwargs)

    monkeypatch.setattr(redis_of(store).connection_pool, "connection_class", Traced)
    await redis_of(store).connection_pool.disconnect()
    redis_of(store).connection_pool.reset()  # type: ignore[no-untyped-call]
    await gateway(store).send([("PING",)])  # connected (the handshake reads replies too)
    reads.clear()
    assert await gateway(store).send([("SET", "k", "v"), ("GET", "k"), ("GET", "x")]) == [
        b"OK", b"v", None]
    assert len(reads) == 3


async def test_a_connection_error_among_read_replies_drops_the_connection_and_fails_the_batch(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A ``LOADING`` reply is a connection error to redis-py, never a reply: taken from the
    reader it still drops the connection (the retry opens another) and, when it comes
    again, is a 503 to every caller, as through ``read_response``."""
    cls = redis_of(store).connection_pool.connection_class
    dropped: list[int] = []
    original = cls.disconnect

    async def counted(self: Connection, *args: Any, **kwargs: Any) -> None:
        dropped.append(1)
        await original(self, *args, **kwargs)

    def loading(connection: Any) -> Any:
        return lambda: BusyLoadingError("Redis is loading the dataset in memory")

    monkeypatch.setattr(cls, "disconnect", counted)
    monkeypatch.setattr(pipeline, "_buffered", loading)
    results = await asyncio.gather(gateway(store).send([("GET", "a")]),
                                   gateway(store).send([("GET", "b")]), return_exceptions=True)
    assert [type(r) for r in results] == [StoreUnavailable, StoreUnavailable]
    assert len(dropped) >= 2  # the first try and the retry
    monkeypatch.undo()
    assert await gateway(store).send([("GET", "a")]) == [None]
