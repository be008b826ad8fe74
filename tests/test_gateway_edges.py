"""The gateway's edges (store/_gateway): what it is built with, the rare turns of its round trips.

A store built from a URL carries every timeout and durability setting to its client; a
list whose caller gave up is never sent; a reply that does not come within the socket
timeout is an outage, and the connection is dropped; a batch stranded on a stopped loop
never blocks the next; after any outage the auto replica count is read again; each failed
call is counted once, by its kind, for the metrics. On a
cluster, the checks that ask every primary get the gateway's own client and router and
the caller's options.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import fakeredis
import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

import oauth_middleware.store._gateway.gateway as gateway_module
from oauth_middleware.store import StoreUnavailable, TokenStore
from oauth_middleware.store._gateway.cache import TokenCache
from oauth_middleware.store._gateway.cluster_cache import ClusterTokenCache
from oauth_middleware.store._gateway.connection import StoreRefused
from oauth_middleware.store._gateway.durability import Durability
from oauth_middleware.store._gateway.gateway import Gateway
from oauth_middleware.store._gateway.health import RedisHealth
from tests.store_helpers import gateway, redis_of

# They drive one node's connection (faked replies, WAIT, pool): the cluster's routing is
# proven by tests/test_cluster.py.
pytestmark = pytest.mark.not_on_cluster


def test_a_gateway_from_a_url_carries_every_setting_to_its_client() -> None:
    made = Gateway.connect("redis://u:pw@h:7/2", connect_timeout=0.3, socket_timeout=0.4,
                           retries=2, min_replicas=1, replica_timeout=30)
    kwargs: Any = made.client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"], kwargs["password"]) == ("h", 7, 2, "pw")
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"],
            kwargs["retry"]._retries) == (0.3, 0.4, 2)
    assert (made.embedded, made.cache) == (False, None)
    assert (made.durability.min_replicas, made.durability.replica_timeout) == (1, 30)
    with pytest.raises(ValueError, match=r"^replica_timeout must be"):
        Gateway.connect("redis://h", socket_timeout=0.4, replica_timeout=400)


def test_the_embedded_gateway_has_no_replica_to_wait_for() -> None:
    made = Gateway.connect(None, min_replicas=0)
    assert made.embedded and isinstance(made.client, fakeredis.FakeAsyncRedis)
    assert made.durability.min_replicas == 0
    with pytest.raises(ValueError, match=r"^the embedded store has no replicas: min_replicas "
                                         r"must be 0 or None$"):
        Gateway.connect(None, min_replicas=1)
    made.track(["om:at:"], generation_key="om:generation")
    assert made.cache is None


async def test_tracking_builds_a_cache_of_those_prefixes_on_a_dedicated_connection() -> None:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    made = Gateway(client)
    made.track(["om:at:", "om:client:"], generation_key="om:generation", size=5)
    cache = made.cache
    assert isinstance(cache, TokenCache)
    assert (cache.prefixes, cache.size) == (("om:at:", "om:client:"), 5)
    assert cache._generation is not None
    value = await cache._generation()
    assert value is not None and await client.get("om:generation") == value
    connection: Any = cache._connect()
    assert connection.protocol == 2 and connection not in client.connection_pool._in_use_connections


async def test_a_lookup_answers_the_value_of_its_own_key(store: TokenStore) -> None:
    await redis_of(store).mset({"a": b"1", "b": b"2"})
    gate = gateway(store)
    assert list(await asyncio.gather(gate.get("b"), gate.get("missing"), gate.get("a"))) == [
        b"2", None, b"1"]
    assert await gate.get("a") == b"1"


async def test_a_list_whose_caller_gave_up_before_the_round_trip_is_never_sent(
    store: TokenStore,
) -> None:
    gate = gateway(store)
    gave_up = asyncio.ensure_future(gate.send([("SET", "abandoned", b"1")]))
    kept = asyncio.ensure_future(gate.send([("SET", "kept", b"1")]))
    await asyncio.sleep(0)  # both lists are queued for this tick's round trip
    gave_up.cancel()
    assert await kept == [b"OK"]
    assert await redis_of(store).mget("abandoned", "kept") == [None, b"1"]
    with pytest.raises(asyncio.CancelledError):
        await gave_up


async def test_a_reply_that_does_not_come_in_time_is_an_outage_and_drops_the_connection(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    pool: Any = redis_of(store).connection_pool
    pool.connection_kwargs["socket_timeout"] = 0.05
    await pool.disconnect()
    pool.reset()  # the next connection is made with the short timeout
    dropped: list[bool] = []
    original, read = pool.connection_class.disconnect, pool.connection_class.read_response

    async def never(connection: Any, *args: Any, **kwargs: Any) -> Any:
        if "timeout" in kwargs:  # the pipeline's reads; a reconnection's handshake is answered
            await asyncio.Event().wait()
        return await read(connection, *args, **kwargs)

    async def disconnect(connection: Any, *args: Any, **kwargs: Any) -> None:
        dropped.append(True)
        await original(connection, *args, **kwargs)

    monkeypatch.setattr(pool.connection_class, "read_response", never)
    monkeypatch.setattr(pool.connection_class, "disconnect", disconnect)
    with pytest.raises(StoreUnavailable) as caught:
        await gateway(store).send([("GET", "k")])
    assert type(caught.value) is StoreUnavailable and dropped
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert said[0] == "token store unavailable: TimeoutError"


def test_a_list_stranded_on_a_stopped_loop_does_not_block_the_next_loop() -> None:
    store = TokenStore.from_url(None)
    first = asyncio.new_event_loop()

    async def queue_then_stop() -> None:
        gateway(store)._pipelines.send([("SET", "stranded", b"1")])
        first.stop()  # the flush scheduled for this list never runs

    first.run_until_complete(queue_then_stop())
    first.close()

    async def send_soon() -> Any:
        async with asyncio.timeout(5):
            return (await gateway(store).send([("GET", "stranded"), ("SET", "next", b"2")]),
                    await redis_of(store).get("next"))

    assert asyncio.run(send_soon()) == ([None, b"OK"], b"2")


class _Outage(Durability):
    """Auto count; records each read of the replicas."""

    def __init__(self) -> None:
        super().__init__(None, 20)
        self.reads = 0

    async def wait(self, replicas: Any) -> tuple[int, int] | None:
        if self._expires == 0.0:
            self.reads += 1
        self._expires = 1e18
        return None


async def test_any_outage_makes_the_next_durable_write_read_the_replicas_again(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failover is an outage first: its new primary may have other replicas."""
    gate = gateway(store)
    gate.durability = _Outage()
    assert await gate.run([("SET", "k", b"1")], durable=True) == [b"OK"]
    assert await gate.run([("SET", "k", b"2")], durable=True) == [b"OK"]
    pool: Any = redis_of(store).connection_pool

    async def lost(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("injected")

    with monkeypatch.context() as patch:
        patch.setattr(pool.connection_class, "send_packed_command", lost)
        with pytest.raises(StoreUnavailable):
            await gate.run([("GET", "k")])
    assert await gate.run([("SET", "k", b"3")], durable=True) == [b"OK"]
    assert gate.durability.reads == 2


async def test_a_primary_that_does_not_say_its_replicas_has_none(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def info(section: str) -> dict[str, Any]:
        return {"role": "master"}

    gate = gateway(store)
    monkeypatch.setattr(gate.client, "info", info)
    assert await gate._replicas() == 0
    gate.durability = Durability(None, 20)
    assert await gate.run([("SET", "k", b"1")], durable=True) == [b"OK"]


async def test_a_round_trip_cancelled_in_flight_cancels_every_caller_waiting_on_it(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """At shutdown the loop cancels the round trips: their callers end too, none hangs."""
    gate = gateway(store)
    stall, entered = asyncio.Event(), asyncio.Semaphore(0)

    async def stalled(*args: Any, **kwargs: Any) -> Any:
        entered.release()
        await stall.wait()

    pool: Any = redis_of(store).connection_pool
    monkeypatch.setattr(pool.connection_class, "send_packed_command", stalled)
    monkeypatch.setattr(redis_of(store), "execute_command", stalled)
    callers = [asyncio.ensure_future(call) for call in (
        gate.send([("GET", "a")]), gate.send([("GET", "b")]), gate.get("c"), gate.get("d"))]
    async with asyncio.timeout(5):
        await entered.acquire()  # the pipeline's round trip is under way
        await entered.acquire()  # and the lookup batch's
    in_flight = [*gate._pipelines._tasks, *gate._batch._tasks]
    assert len(in_flight) == 2
    for task in in_flight:
        task.cancel()
    async with asyncio.timeout(5):
        answers = await asyncio.gather(*callers, return_exceptions=True)
    assert [type(a) for a in answers] == [asyncio.CancelledError] * 4


async def test_nothing_of_a_finished_round_trip_is_kept(store: TokenStore) -> None:
    """Fifty concurrent callers, then nothing: no task held, no connection checked out."""
    gate = gateway(store)
    await asyncio.gather(*(gate.send([("INCR", "n")]) for _ in range(50)),
                         *(gate.get("n") for _ in range(50)))
    for _ in range(3):
        await asyncio.sleep(0)  # the done callbacks run
    pool: Any = redis_of(store).connection_pool
    assert gate._pipelines._tasks == set() and gate._batch._tasks == set()
    assert len(pool._in_use_connections) == 0
    assert await redis_of(store).get("n") == b"50"


async def test_on_a_cluster_the_per_primary_checks_get_its_client_router_and_the_callers_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the helpers then do with each primary is tests/test_cluster.py's, on a real
    cluster; here no node is ever reached (the helpers are stand-ins)."""
    client = RedisCluster(host="127.0.0.1", port=9)  # built, never connected
    gate = Gateway(client)
    asked: list[tuple[Any, ...]] = []
    said = RedisHealth(cluster_enabled=True, notes=("a note",))

    async def cluster_health(of: Any, *, allow_eviction: bool = False) -> RedisHealth:
        asked.append(("health", of, allow_eviction))
        return said

    async def connected_replicas(of: Any) -> int:
        asked.append(("replicas", of))
        return 2

    async def scan_page(router: Any, cursor: int, pattern: str, count: int
                        ) -> tuple[int, list[Any]]:
        asked.append(("scan", router, cursor, pattern, count))
        return 5 << 10 | 1, [b"om:at:x"]

    for helper in (cluster_health, connected_replicas, scan_page):
        monkeypatch.setattr(gateway_module, helper.__name__, helper)
    gate.track(["om:at:", "om:client:"], generation_key="om:generation", size=5)
    cache = gate.cache
    assert isinstance(cache, ClusterTokenCache)  # one invalidation link per primary
    assert (cache.prefixes, cache.size, cache._router) == (("om:at:", "om:client:"), 5,
                                                            gate._router)
    try:
        assert await gate.health(allow_eviction=True) is said
        assert await gate.health() is said
        assert await gate._replicas() == 2
        assert await gate.scan(7 << 10 | 2, "om:at:*", 50) == (5 << 10 | 1, ["om:at:x"])
    finally:
        await client.aclose()
    assert asked == [("health", client, True), ("health", client, False), ("replicas", client),
                     ("scan", gate._router, 7 << 10 | 2, "om:at:*", 50)]


async def test_each_failed_call_is_counted_once_by_its_kind(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a metrics scrape reads (monitoring.stats): an error reply is "refused", no
    answer at all "unavailable", whichever way the call went (a lookup or a round trip)."""
    gate = gateway(store)
    await redis_of(store).hset("a hash", "field", "value")
    with pytest.raises(StoreRefused):
        await gate.get("a hash")  # WRONGTYPE
    assert gate.errors == {"refused": 1}
    with pytest.raises(StoreRefused):
        await gate.run([("GET", "a hash")])
    assert gate.errors == {"refused": 2}
    pool: Any = redis_of(store).connection_pool

    async def lost(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("injected")

    monkeypatch.setattr(pool.connection_class, "send_packed_command", lost)
    monkeypatch.setattr(redis_of(store), "execute_command", lost)
    for call in (gate.get("k"), gate.send([("GET", "k")]), gate.get("k")):
        with pytest.raises(StoreUnavailable) as caught:
            await call
        assert type(caught.value) is StoreUnavailable
    assert gate.errors == {"refused": 2, "unavailable": 3}

    async def refused(*args: Any, **kwargs: Any) -> None:
        raise ResponseError("NOPERM this user has no permissions to run the 'get' command")

    monkeypatch.setattr(pool.connection_class, "send_packed_command", refused)
    with pytest.raises(StoreRefused):
        await gate.send([("GET", "k")])  # the whole round trip refused, not one reply
    assert gate.errors == {"refused": 3, "unavailable": 3}
