"""The invalidating local cache on a real Redis Cluster (store/_gateway/cluster_cache.py,
issue 13 §2): tracked on every primary, and never serving across a slot move, a failover
or a lost tracking connection what Redis has not confirmed since.

Each test has a reader store with ``local_cache=True`` and a writer that stands for
another worker. Nothing sleeps to time a behaviour: a test polls (``until``) only for
what is asynchronous by design (the listener subscribing, a failover).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis

from oauth_middleware.models import IssuedTokens
from oauth_middleware.security import digest
from oauth_middleware.store import NewTokens, StoreUnavailable, TokenStore
from oauth_middleware.store._gateway.cluster_cache import ClusterTokenCache
from tests.conftest import FakeClock
from tests.polling import until
from tests.store_helpers import cache_of, gateway, redis_of
from tests.test_cluster import _owner
from tests.topologies import FORM_BOUND, Cluster, Node, cluster

pytestmark = pytest.mark.topology

#: Grants issued: enough that every primary holds some access tokens.
GRANTS = 30


@pytest.fixture
async def reader(redis_cluster: Cluster, clock: FakeClock) -> AsyncIterator[TokenStore]:
    store = TokenStore.from_url(redis_cluster.url, clock=clock, local_cache=True)
    await redis_of(store).flushdb()
    yield store
    await store.aclose()


@pytest.fixture
async def writer(redis_cluster: Cluster, clock: FakeClock) -> AsyncIterator[TokenStore]:
    """Another worker, with a cache of its own (its writes then wait for every primary's
    invalidations to be out, as a cached worker's do)."""
    store = TokenStore.from_url(redis_cluster.url, clock=clock, local_cache=True)
    yield store
    await store.aclose()


def _cache(store: TokenStore) -> ClusterTokenCache:
    cache = cache_of(store)
    assert isinstance(cache, ClusterTokenCache)
    return cache


def _key(store: TokenStore, issued: IssuedTokens) -> str:
    return store.keys.access(issued.token.grant_id, digest(issued.access_token))


class Trips:
    """Records every command the store sends to the cluster (its router's round trips)."""

    def __init__(self, store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.commands: list[str] = []
        router = gateway(store)._router
        assert router is not None
        exchange = router._exchange

        async def recording(commands: Any, wait: Any) -> Any:
            self.commands += [str(command[0]) for command in commands]
            return await exchange(commands, wait)

        monkeypatch.setattr(router, "_exchange", recording)


async def _warm(store: TokenStore, issued: list[IssuedTokens]) -> None:
    """Resolve until every token is a cache entry (the listener first subscribes)."""
    cache = _cache(store)
    await store.resolve(issued[0].access_token)
    await until(lambda: cache.serving, "the cache serves")
    found = await asyncio.gather(*(store.resolve(t.access_token) for t in issued))
    assert [f.subject if f else None for f in found] == [t.token.subject for t in issued]
    assert {_key(store, t) for t in issued} <= set(cache.entries)


async def _issue(store: TokenStore, count: int = GRANTS) -> list[IssuedTokens]:
    return list(await asyncio.gather(*(store.issue(NewTokens(
        client_id="web", subject=f"user{n}", scopes=frozenset({"read"})))
        for n in range(count))))


def _by_primary(store: TokenStore, made: Cluster, issued: list[IssuedTokens]
                ) -> dict[int, list[IssuedTokens]]:
    """The tokens by the port of the primary that holds their access-token key."""
    client = redis_of(store)
    spread: dict[int, list[IssuedTokens]] = {}
    for tokens in issued:
        node, _ = _owner(made, client.keyslot(_key(store, tokens)))  # type: ignore[attr-defined]
        spread.setdefault(node.port, []).append(tokens)
    assert len(spread) == len(made.primaries), spread.keys()
    return spread


@pytest.mark.rule("revoke.cache-exact-on-host")
async def test_a_token_deleted_on_any_primary_is_never_served_from_the_cache_after(
    reader: TokenStore, redis_cluster: Cluster, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On each primary in turn another client deletes a cached token's key and the primary
    has written the invalidation, but this event loop has not run since: the very next
    lookup is not a hit, it is read from Redis and refused."""
    issued = await _issue(reader)
    spread = _by_primary(reader, redis_cluster, issued)
    await _warm(reader, issued)
    cache = _cache(reader)
    for port, tokens in spread.items():
        key = _key(reader, tokens[0])
        admin = redis.Redis(port=port)
        try:
            assert admin.delete(key) == 1
            assert admin.ping()  # served after the turn that wrote the invalidation
        finally:
            admin.close()
        assert key in cache.entries  # not applied: nothing has read the socket yet
        assert cache.get(key) is None and not cache.live()
        trips = Trips(reader, monkeypatch)
        assert await reader.resolve(tokens[0].access_token) is None
        assert trips.commands == ["MGET"]
        assert key not in cache.entries
        assert await reader.resolve(tokens[1].access_token) == tokens[1].token
        monkeypatch.undo()


@pytest.mark.rule("revoke.cache-exact-on-host")
async def test_a_revocation_through_another_worker_is_refused_at_once_on_every_primary(
    reader: TokenStore, writer: TokenStore, redis_cluster: Cluster,
) -> None:
    issued = await _issue(reader)
    spread = _by_primary(reader, redis_cluster, issued)
    await _warm(reader, issued)
    _cache(writer).live()  # starts its listener
    await until(lambda: _cache(writer).serving, "the writer's cache serves")
    revoked = [tokens[0] for tokens in spread.values()]
    for tokens in revoked:
        assert await writer.revoke_token(tokens.access_token)
        assert await reader.resolve(tokens.access_token) is None  # no wait: at once
    live = [t for t in issued if t not in revoked]
    found = await asyncio.gather(*(reader.resolve(t.access_token) for t in live))
    assert all(f is not None for f in found)
    assert not {_key(reader, t) for t in revoked} & set(_cache(reader).entries)
    for tokens in revoked:
        assert await redis_of(reader).exists(_key(reader, tokens)) == 0


@pytest.mark.rule("revoke.cache-cluster-topology")
async def test_a_slot_moved_under_a_cached_key_is_read_from_redis_then_tracked_there(
    reader: TokenStore, writer: TokenStore, redis_cluster: Cluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The slot of a cached token migrates (IMPORTING, MIGRATING, MIGRATE, SETSLOT NODE,
    as ``redis-cli --cluster reshard`` does): the next lookup goes to Redis, and once the
    cache serves again, a revocation on the slot's new owner is obeyed at once."""
    issued = await _issue(reader)
    await _warm(reader, issued)
    cache = _cache(reader)
    target = issued[0]
    key = _key(reader, target)
    slot = redis_of(reader).keyslot(key)  # type: ignore[attr-defined]
    source, source_id = _owner(redis_cluster, slot)
    dest = next(n for n in redis_cluster.primaries if n is not source)
    dest_id = _admin(dest, "CLUSTER", "MYID")
    _admin(dest, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    _admin(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", dest_id)
    keys = _admin(source, "CLUSTER", "GETKEYSINSLOT", slot, 1000)
    _admin(source, "MIGRATE", "127.0.0.1", dest.port, "", 0, 5000, "KEYS", *keys)
    for node in redis_cluster.primaries:
        _admin(node, "CLUSTER", "SETSLOT", slot, "NODE", dest_id)
    assert cache.get(key) is None
    trips = Trips(reader, monkeypatch)
    assert await reader.resolve(target.access_token) == target.token
    assert trips.commands[0] == "MGET"  # read from Redis (then MOVED to the new owner)
    monkeypatch.undo()
    await until(lambda: cache.serving, "the cache serves again")
    assert await reader.resolve(target.access_token) == target.token
    await until(lambda: key in cache.entries, "the token is cached from its new owner")
    assert key in await _keys_of(dest)
    _cache(writer).live()
    await until(lambda: _cache(writer).serving, "the writer's cache serves")
    assert await writer.revoke_token(target.access_token)
    assert await reader.resolve(target.access_token) is None


async def _keys_of(node: Node) -> list[str]:
    return [str(key) for key in node.client().keys("*")]


def _admin(node: Node, *command: Any) -> Any:
    return node.client().execute_command(*command)  # type: ignore[no-untyped-call]


@pytest.mark.rule("revoke.cache-cluster-topology")
async def test_a_dropped_tracking_connection_flushes_the_cache_and_stops_serving(
    reader: TokenStore, redis_cluster: Cluster, monkeypatch: pytest.MonkeyPatch,
) -> None:
    issued = await _issue(reader)
    spread = _by_primary(reader, redis_cluster, issued)
    await _warm(reader, issued)
    cache = _cache(reader)
    port = next(iter(spread))
    node = next(n for n in redis_cluster.primaries if n.port == port)
    assert node.client().client_kill_filter(_type="pubsub") == 1
    await until(lambda: not cache.serving, "the cache stops serving")
    assert cache.entries == {} and not cache.live()
    trips = Trips(reader, monkeypatch)
    other = spread[next(p for p in spread if p != port)][0]
    assert await reader.resolve(other.access_token) == other.token  # even another node's
    assert trips.commands == ["MGET"]
    monkeypatch.undo()
    await until(lambda: cache.serving, "the cache serves again")
    await _warm(reader, issued)


@pytest.mark.rule("revoke.cache-cluster-topology")
async def test_a_read_crossed_by_a_redirection_is_not_kept(reader: TokenStore) -> None:
    """A MOVED or ASK met by any call of this process flushes the cache: a read in flight
    meanwhile is not kept, whatever its key."""
    issued = await _issue(reader, 3)
    await _warm(reader, issued)
    cache = _cache(reader)
    router = gateway(reader)._router
    assert router is not None
    key = _key(reader, issued[0])
    epoch = cache.begin(key)
    router.remap()  # what a MOVED does
    cache.finish(key, epoch, issued[0].token)
    assert cache.entries == {}


async def test_a_read_crossed_by_an_invalidation_from_its_primary_is_not_kept(
    reader: TokenStore, redis_cluster: Cluster,
) -> None:
    issued = await _issue(reader)
    spread = _by_primary(reader, redis_cluster, issued)
    await _warm(reader, issued)
    cache = _cache(reader)
    for port, tokens in spread.items():
        key = _key(reader, tokens[0])
        epoch = cache.begin(key)  # a read of it is in flight...
        seen = cache.invalidations
        admin = redis.Redis(port=port)
        try:
            assert admin.expire(key, 3600) == 1  # ...when another client rewrites it
        finally:
            admin.close()
        await until(functools.partial(_more, cache, seen), "the invalidation arrived")
        cache.finish(key, epoch, tokens[0].token)
        assert key not in cache.entries
        assert cache.live()  # one key went, not the cache


def _more(cache: ClusterTokenCache, seen: int) -> bool:
    return cache.invalidations > seen


@pytest.mark.rule("revoke.cache-cluster-topology")
async def test_a_key_of_a_primary_the_cache_does_not_track_is_never_kept(
    reader: TokenStore,
) -> None:
    issued = await _issue(reader, 3)
    await _warm(reader, issued)
    cache = _cache(reader)
    key = _key(reader, issued[0])
    cache.flush()
    cache._names = frozenset()  # as if its slot had gone to a primary added since
    cache.finish(key, cache.begin(key), issued[0].token)
    assert key not in cache.entries


async def _answered(call: Callable[[], Awaitable[Any]]) -> Any:
    """``call()`` again while the store answers 503 mid-failover (bounded)."""
    for _ in range(int(FORM_BOUND * 10)):
        try:
            return await call()
        except StoreUnavailable:
            await asyncio.sleep(0.1)  # polling the store back, not timing a behaviour
    pytest.fail("the store did not come back after the failover")


async def _resolved(store: TokenStore, token: str) -> Any:
    """``store.resolve(token)`` once the store answers again after a failover."""
    return await _answered(lambda: store.resolve(token))


@pytest.mark.failover
@pytest.mark.rule("revoke.cache-cluster-topology")
async def test_a_killed_primary_stops_the_cache_and_after_the_failover_nothing_stale_is_served(
    clock: FakeClock,
) -> None:
    with cluster(replicas=1) as made:
        reader = TokenStore.from_url(made.url, clock=clock, local_cache=True)
        writer = TokenStore.from_url(made.url, clock=clock, local_cache=True)
        try:
            issued = await _issue(reader)
            spread = _by_primary(reader, made, issued)
            await _warm(reader, issued)
            cache = _cache(reader)
            victim = made.primaries[0]
            victim.kill()
            assert not cache.live()  # the closed socket is seen before any hit
            await until(lambda: not cache.serving, "the session ended")
            assert cache.entries == {}
            on_victim = spread[victim.port]
            await _resolved(writer, on_victim[0].access_token)  # the replica took over
            # right after the promotion a write may still be refused (503, e.g. its WAIT);
            # a retry may then find the token already revoked: what counts is the reader
            await _answered(lambda: writer.revoke_token(on_victim[0].access_token))
            assert await _resolved(reader, on_victim[0].access_token) is None
            await until(lambda: cache.serving, "the cache serves the new primaries")
            assert victim.port not in {int(name.rsplit(":", 1)[1]) for name in cache._names}
            assert await reader.resolve(on_victim[0].access_token) is None
            live = on_victim[1]
            assert await reader.resolve(live.access_token) == live.token
            assert await writer.revoke_token(live.access_token)
            assert await reader.resolve(live.access_token) is None
        finally:
            await reader.aclose()
            await writer.aclose()


#: What the docs add to the cluster ACL user for the cache (running-at-scale.md).
CACHE_ACL = ("+client|id", "+client|tracking", "+subscribe", "+ping", "+cluster|myid",
             "&__redis__:invalidate")


async def test_the_cache_serves_through_tls_for_an_acl_user_given_the_documented_commands(
    clock: FakeClock,
) -> None:
    """Each primary's invalidation connection is opened with the cluster's TLS options and
    credentials, and the ACL the guide lists is enough for it."""
    with cluster(tls=True, user=("store", "pw", "om:")) as made:
        for node in made.primaries + made.replicas:
            node.client().execute_command("ACL", "SETUSER", "store",  # type: ignore[no-untyped-call]
                                          *CACHE_ACL)
        reader = TokenStore.from_url(made.url, clock=clock, local_cache=True)
        writer = TokenStore.from_url(made.url, clock=clock, local_cache=True)
        try:
            issued = await _issue(reader)
            spread = _by_primary(reader, made, issued)
            assert all(len(tokens) > 1 for tokens in spread.values())
            await _warm(reader, issued)
            _cache(writer).live()
            await until(lambda: _cache(writer).serving, "the writer's cache serves")
            for tokens in spread.values():
                assert await writer.revoke_token(tokens[0].access_token)
                assert await reader.resolve(tokens[0].access_token) is None
                assert await reader.resolve(tokens[-1].access_token) == tokens[-1].token
        finally:
            await reader.aclose()
            await writer.aclose()
