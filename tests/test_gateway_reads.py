"""Reads through the gateway's local cache (store/_gateway/gateway.py, readthrough.py), in process.

Data on fakeredis, invalidations from :class:`tests.tracking_server.TrackingServer`: what
is cached is answered without a command, what is not costs one round trip, nothing
invalidated meanwhile is kept, and this process's own writes drop their keys at once.
Each step that may be kept counts as a hit or a miss (the metrics' cache counts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from oauth_middleware.store import StoreUnavailable
from oauth_middleware.store._gateway import Step, pairs, pipeline, texts
from oauth_middleware.store._gateway import cache as cache_module
from oauth_middleware.store._gateway.cache import TokenCache
from oauth_middleware.store._gateway.gateway import Gateway
from tests.polling import until
from tests.tracking_server import TrackingServer, invalidation


class Sent:
    """Every command the gateway's client sends (batch and pipelines alike)."""

    def __init__(self, gate: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
        self.names: list[str] = []
        client = gate.client
        original: Any = client.execute_command
        pack = pipeline.packed

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.names.append(str(args[0]))
            return await original(*args, **kwargs)

        def packed(connection: Any, commands: Any) -> Any:
            self.names.extend(str(command[0]) for command in commands)
            return pack(connection, commands)

        monkeypatch.setattr(client, "execute_command", counted)
        monkeypatch.setattr(pipeline, "packed", packed)


@pytest.fixture
async def gate(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Gateway, TrackingServer]]:
    monkeypatch.setattr(cache_module, "RECONNECT_DELAY", 0.0)
    server = TrackingServer()
    made = Gateway(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
    # A lease no heartbeat can miss: on a loaded machine (a mutation run, niced, on a busy
    # host) 2 s without a PONG did happen, and a cache that stops serving mid-test reads
    # every step from Redis: a failure that says nothing about the code under test. And
    # heartbeats rare enough that none is answered mid-test: an answer the listener has
    # not read yet makes the cache stand aside for that read, by design (``live``), and a
    # 10 ms heartbeat on a loaded host once sent a test's second read to Redis.
    made.cache = TokenCache(server.connect, "om:at:", "om:client:", heartbeat=30.0,  # type: ignore[arg-type]
                            lease=60.0, generation=server.database_generation)
    made.cache.live()
    await until(made.cache.live, "the cache serves")
    yield made, server
    await made.aclose()


async def test_a_token_read_once_is_then_served_without_redis_until_invalidated(
    gate: tuple[Gateway, TrackingServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway, server = gate
    await gateway.client.set("om:at:t", b"v1")
    sent = Sent(gateway, monkeypatch)
    assert await gateway.read("om:at:t", bytes.upper) == b"V1"
    assert await gateway.read("om:at:t", bytes.upper) == b"V1"
    assert sent.names == ["GET"]
    await gateway.client.set("om:at:t", b"v2")
    server.push(invalidation([b"om:at:t"]))
    await until(lambda: gateway.cache is not None and gateway.cache.invalidations == 1,
                "the invalidation was applied")
    assert await gateway.read("om:at:t", bytes.upper) == b"V2"
    assert sent.names == ["GET", "SET", "GET"]


async def test_an_absent_or_untracked_key_is_read_every_time(
    gate: tuple[Gateway, TrackingServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway, _ = gate
    await gateway.client.set("om:rt:r", b"refresh")
    sent = Sent(gateway, monkeypatch)
    for _ in range(2):
        assert await gateway.read("om:at:none", bytes.upper) is None
        assert await gateway.read("om:rt:r", bytes.upper) == b"REFRESH"
    assert sent.names == ["GET", "GET", "GET", "GET"]
    assert gateway.cache is not None and gateway.cache.entries == {}


async def test_a_failed_read_is_store_unavailable_and_keeps_nothing(
    gate: tuple[Gateway, TrackingServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway, _ = gate

    async def lost(*args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("injected: 10.0.0.1:6379")

    monkeypatch.setattr(gateway.client, "execute_command", lost)
    with pytest.raises(StoreUnavailable) as caught:
        await gateway.read("om:at:t", bytes.upper)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert gateway.cache is not None and gateway.cache.entries == {}
    assert gateway.cache._reading == {}


async def test_read_through_answers_kept_steps_locally_and_the_rest_in_one_trip(
    gate: tuple[Gateway, TrackingServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway, server = gate
    await gateway.client.hset("om:client:a", mapping={"name": "A"})
    await gateway.client.set("om:code:c", b"code")
    steps: list[Step] = [("om:client:a", ("HGETALL", "om:client:a"), pairs),
                         ("om:client:gone", ("HGETALL", "om:client:gone"), None),
                         (None, ("GET", "om:code:c"), None)]
    sent = Sent(gateway, monkeypatch)
    expected = [{"name": b"A"}, {}, b"code"]
    cache = gateway.cache
    assert cache is not None and (cache.hits, cache.misses) == (0, 0)
    assert await gateway.read_through(steps) == expected
    assert (cache.hits, cache.misses) == (0, 2)  # a step that is never kept is neither
    assert await gateway.read_through(steps) == expected
    assert (cache.hits, cache.misses) == (2, 2)
    assert sent.names == ["HGETALL", "HGETALL", "GET", "GET"]  # the code step is never kept
    assert cache.records == {"om:client:a": {"name": b"A"}, "om:client:gone": {}}
    gateway.forget("om:client:a")  # this process wrote it
    assert list(cache.records) == ["om:client:gone"]
    gateway.forget_all([b"om:client:gone", "om:client:x"])
    assert cache.records == {}
    server.push(invalidation(None))
    assert await gateway.read_through(steps[:1]) == expected[:1]
    assert (cache.hits, cache.misses) == (2, 3)


async def test_settled_costs_one_round_trip_only_when_the_cache_is_on(
    gate: tuple[Gateway, TrackingServer], monkeypatch: pytest.MonkeyPatch,
) -> None:
    gateway, _ = gate
    plain = Gateway(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()))
    sent = Sent(gateway, monkeypatch)
    await gateway.settled()
    assert sent.names == ["PING"]
    sent = Sent(plain, monkeypatch)
    await plain.settled()
    plain.forget("om:at:t")
    plain.forget_all(["om:at:t"])
    assert sent.names == [] and plain.cache is None
    assert await plain.ping() is True
    await plain.aclose()


async def test_closing_the_gateway_stops_the_cache(gate: tuple[Gateway, TrackingServer]
                                                   ) -> None:
    gateway, _ = gate
    cache = gateway.cache
    assert cache is not None and cache._task is not None
    task = cache._task
    await gateway.aclose()
    assert task.done() and not cache.serving


def test_replies_read_as_text() -> None:
    assert texts([b"om:at:x", "plain", 3, b"\xc3\xa9"]) == ["om:at:x", "plain", "3", "\u00e9"]
    assert pairs([b"a", b"1", "b", b"2"]) == {"a": b"1", "b": b"2"}
    assert pairs({b"a": b"1", "b": b"2"}) == {"a": b"1", "b": b"2"}
