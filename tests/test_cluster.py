"""The store on a real 3-primary Redis Cluster (issue 13 §2, §5): keys spread by hash tag,
a plain URL at a cluster node refused at start, WAIT per node, and slots moved under
traffic (ASK while a slot migrates, MOVED once it moved) with every answer still right.

The store suite itself runs on the cluster through the ``cluster`` backend
(tests/conftest.py); what is here needs the cluster's nodes one by one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from oauth_middleware.models import IssuedTokens
from oauth_middleware.security import digest
from oauth_middleware.store import NewTokens, StoreNotDurable, StoreUnavailable, TokenStore
from oauth_middleware.store._gateway.cluster import ClusterReader, ClusterRouter
from oauth_middleware.store._gateway.health import UnsafeRedis
from tests.conftest import FakeClock
from tests.polling import until
from tests.redis_process import free_port
from tests.server.token_harness import build_app, http
from tests.store_helpers import ALL_SCRIPTS, cache_of, gateway, redis_of, texts
from tests.test_grant_cap import capped
from tests.topologies import Cluster, Node

pytestmark = pytest.mark.topology

#: Grants issued to spread keys: enough that every primary gets some whatever the slots.
GRANTS = 120
#: Shaped like one of our tokens, never issued.
UNKNOWN = "A" * 22 + "." + "B" * 43
#: Lookups fired at once while a slot moves.
AT_ONCE = 50


@pytest.fixture(params=[False, True], ids=["uncached", "local_cache"])
async def on_cluster(redis_cluster: Cluster, clock: FakeClock, request: pytest.FixtureRequest
                     ) -> AsyncIterator[TokenStore]:
    """The store on the cluster, without and with the local cache (serving once yielded)."""
    store = TokenStore.from_url(redis_cluster.url, clock=clock, local_cache=request.param)
    await redis_of(store).flushdb()
    if request.param:
        cache_of(store).live()  # starts the listener
        await until(cache_of(store).live, "the cache serves")
    yield store
    await store.aclose()


def _spec(number: int) -> NewTokens:
    return NewTokens(client_id=f"client{number % 7}", subject=f"user{number}",
                     scopes=frozenset({"read"}), refresh=True)


async def test_keys_of_many_grants_land_on_every_primary_each_grant_in_one_slot(
    on_cluster: TokenStore, redis_cluster: Cluster,
) -> None:
    issued = await asyncio.gather(*(on_cluster.issue(_spec(n)) for n in range(GRANTS)))
    sizes = [node.client().dbsize() for node in redis_cluster.primaries]
    # per grant: access token, refresh record, members, user index; 7 client indexes
    assert sum(sizes) >= 4 * GRANTS and all(size > GRANTS // 3 for size in sizes), sizes
    client = redis_of(on_cluster)
    assert isinstance(client, RedisCluster)
    for tokens in issued[:10]:
        grant_id = tokens.token.grant_id
        members = await client.smembers(on_cluster.keys.members(grant_id))
        slots = {client.keyslot(key) for key in members}
        assert slots == {client.keyslot(on_cluster.keys.members(grant_id))}
    resolved = await asyncio.gather(*(on_cluster.resolve(t.access_token) for t in issued))
    assert [r.user if r else None for r in resolved] == [f"user{n}" for n in range(GRANTS)]


async def test_revoking_a_user_or_a_client_reaches_grants_on_every_primary(
    on_cluster: TokenStore,
) -> None:
    issued = await asyncio.gather(*(on_cluster.issue(_spec(n)) for n in range(GRANTS)))
    await on_cluster.revoke_client_tokens("client3")
    await on_cluster.revoke_user("user1")
    resolved = await asyncio.gather(*(on_cluster.resolve(t.access_token) for t in issued))
    expected = [n % 7 != 3 and n != 1 for n in range(GRANTS)]
    assert [r is not None for r in resolved] == expected
    assert await redis_of(on_cluster).exists(on_cluster.keys.client_index("client3")) == 0


async def test_a_plain_url_at_a_cluster_node_fails_at_start_naming_the_cluster_scheme(
    redis_cluster: Cluster,
) -> None:
    node = redis_cluster.primaries[0]
    store = TokenStore.from_url(f"redis://127.0.0.1:{node.port}")
    try:
        with pytest.raises(UnsafeRedis, match=r"redis\+cluster://"):
            await store.check()
    finally:
        await store.aclose()


async def test_a_cluster_check_reads_every_primary_and_serves(redis_cluster: Cluster) -> None:
    store = TokenStore.from_url(redis_cluster.url)
    try:
        health = await store.check()
        assert health.cluster_enabled is True
        assert health.eviction_policy == "noeviction"
    finally:
        await store.aclose()


async def test_a_revocation_a_replica_never_confirmed_is_a_503_with_the_token_gone(
    redis_cluster: Cluster, clock: FakeClock,
) -> None:
    """min_replicas=1 on primaries without replicas: WAIT goes to the node that took the
    write, on its connection, and answers 0: not durable (503), though done on the primary."""
    store = TokenStore.from_url(redis_cluster.url, clock=clock, min_replicas=1,
                                replica_timeout=20)
    try:
        issued = await store.issue(_spec(1))
        with pytest.raises(StoreNotDurable):
            await store.revoke_token(issued.access_token)
        assert await store.resolve(issued.access_token) is None
    finally:
        await store.aclose()


def _owner(cluster: Cluster, slot: int) -> tuple[Node, str]:
    """The primary that holds ``slot``, and its node id (``CLUSTER SLOTS``)."""
    slots: Any = cluster.primaries[0].client().execute_command(  # type: ignore[no-untyped-call]
        "CLUSTER", "SLOTS")
    for start, end, (_, port, node_id, *_), *_ in slots:
        if int(start) <= slot <= int(end):
            return next(n for n in cluster.primaries if n.port == int(port)), str(node_id)
    raise AssertionError(f"no primary holds slot {slot}")


async def _all_answer(store: TokenStore, live: list[IssuedTokens], dead: list[IssuedTokens]
                      ) -> None:
    """Every live token resolves to its user and every revoked one stays refused,
    looked up :data:`AT_ONCE` at a time."""
    tokens = [t.access_token for t in live + dead]
    for start in range(0, len(tokens), AT_ONCE):
        batch = tokens[start:start + AT_ONCE]
        found = await asyncio.gather(*(store.resolve(t) for t in batch))
        want = [t in {x.access_token for x in live} for t in batch]
        assert [f is not None for f in found] == want


async def test_moving_a_slot_under_traffic_keeps_every_answer_right(
    on_cluster: TokenStore, redis_cluster: Cluster, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A slot migrates by hand as ``redis-cli --cluster reshard`` does: IMPORTING and
    MIGRATING, keys moved a few at a time (ASK, TRYAGAIN for a script whose keys are
    split), then the slot handed over (MOVED). Lookups, a revocation and a refresh
    rotation run at every step, and every answer is the single-node answer."""
    issued = list(await asyncio.gather(*(on_cluster.issue(_spec(n)) for n in range(GRANTS))))
    redirected: list[str] = []
    asked = ClusterRouter._asked

    def recording(router: ClusterRouter, reply: Any) -> Any:
        redirected.append(type(reply).__name__)
        return asked(router, reply)

    monkeypatch.setattr(ClusterRouter, "_asked", recording)
    client = redis_of(on_cluster)
    assert isinstance(client, RedisCluster)
    target = issued[0]
    slot = client.keyslot(on_cluster.keys.members(target.token.grant_id))
    source, source_id = _owner(redis_cluster, slot)
    dest = next(n for n in redis_cluster.primaries if n is not source)
    dest_id = dest.client().execute_command("CLUSTER", "MYID")
    dead: list[IssuedTokens] = []
    dest.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dest_id)
    await _all_answer(on_cluster, issued, dead)
    keys = source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
    first = [on_cluster.keys.access(target.token.grant_id, digest(target.access_token))]
    assert first[0] in keys  # moved first: its lookups are ASKed to the new owner
    rest = [key for key in keys if key not in first]
    source.client().execute_command("MIGRATE", "127.0.0.1", dest.port, "", 0, 5000,
                                    "KEYS", *first)
    # keys split over two nodes: lookups ASK or TRYAGAIN until they are together again
    await _all_answer(on_cluster, issued, dead)
    assert await on_cluster.revoke_token(issued[1].access_token)
    dead.append(issued.pop(1))

    def finish() -> None:
        """The rest of the slot's keys, then the slot itself, handed over."""
        if rest:
            source.client().execute_command("MIGRATE", "127.0.0.1", dest.port, "", 0, 5000,
                                            "KEYS", *rest)
        for node in redis_cluster.primaries:
            node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dest_id)

    # the hand-over runs while lookups are in flight
    await asyncio.gather(asyncio.to_thread(finish), _all_answer(on_cluster, issued, dead))
    await _all_answer(on_cluster, issued, dead)
    assert await on_cluster.revoke_token(target.refresh_token or "")
    dead.append(issued.pop(0))
    await _all_answer(on_cluster, issued, dead)
    assert {"AskError", "MovedError"} <= set(redirected), redirected
    # of the revoked grant, only its tombstone is left, on the slot's new owner (the slot
    # may also hold another entity's key, e.g. some other user's index: those are not its)
    grant_tag = f"{{{target.token.grant_id}}}"
    left = dest.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000)
    assert [key for key in left if grant_tag in key] == [
        on_cluster.keys.gone(target.token.grant_id)]
    assert await client.zcard(on_cluster.keys.user_index(target.token.subject)) == 0
    assert source.client().execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 0


@pytest.mark.rule("redis.token-503")
async def test_a_cluster_none_of_whose_nodes_answers_is_a_503_never_a_500() -> None:
    """redis-py's cluster errors outside ``RedisError`` (no node to read the slot map from)
    are an unavailable store too: the token endpoint and the protected route answer 503."""
    store = TokenStore.from_url(f"redis+cluster://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(StoreUnavailable):
            await store.issue(NewTokens(client_id="web", subject="alice"))
        async with http(build_app(store)) as client:
            response = await client.get("/me", headers={"Authorization": f"Bearer {UNKNOWN}"})
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"]
        assert "invalid_token" not in response.headers.get("www-authenticate", "")
    finally:
        await store.aclose()


async def test_a_batched_read_of_a_slot_whose_keys_are_split_by_a_migration_still_answers(
    on_cluster: TokenStore, redis_cluster: Cluster,
) -> None:
    """Mid-migration a multi-key ``MGET`` over keys now on two nodes answers TRYAGAIN
    however often it is resent; the tick's lookups of that slot are then read one key
    each (ASKed where moved), so a reshard never turns concurrent lookups into 503s."""
    client = redis_of(on_cluster)
    assert isinstance(client, RedisCluster)
    moved, stayed = "{split-read}moved", "{split-read}stayed"
    await client.set(moved, b"one")
    await client.set(stayed, b"two")
    slot = client.keyslot(moved)
    source, source_id = _owner(redis_cluster, slot)
    dest = next(n for n in redis_cluster.primaries if n is not source)
    dest_id = dest.client().execute_command("CLUSTER", "MYID")
    dest.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dest_id)
    source.client().execute_command("MIGRATE", "127.0.0.1", dest.port, "", 0, 5000,
                                    "KEYS", moved)
    try:
        reader = ClusterReader(ClusterRouter(client))
        assert await reader.mget([stayed, moved, UNKNOWN]) == [b"two", b"one", None]
    finally:
        source.client().execute_command("MIGRATE", "127.0.0.1", dest.port, "", 0, 5000,
                                        "KEYS", stayed)
        for node in redis_cluster.primaries:
            node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", dest_id)


def _own(client_id: str = "svc") -> NewTokens:
    """A client credentials grant: the client acting for itself."""
    return NewTokens(client_id=client_id, subject=client_id, subject_type="client",
                     scopes=frozenset({"read"}), lifetime=3600)


def _move_slot(cluster: Cluster, slot: int, keys: set[str]) -> Node:
    """Hand ``slot``, with its ``keys`` (all it holds), to another primary, as
    ``redis-cli --cluster reshard`` does; returns that primary."""
    source, source_id = _owner(cluster, slot)
    dest = next(n for n in cluster.primaries if n is not source)

    def run(node: Node, *args: Any) -> Any:
        return node.client().execute_command(*args)  # type: ignore[no-untyped-call]

    dest_id = run(dest, "CLUSTER", "MYID")
    run(dest, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    run(source, "CLUSTER", "SETSLOT", slot, "MIGRATING", dest_id)
    assert set(run(source, "CLUSTER", "GETKEYSINSLOT", slot, 100)) == keys
    run(source, "MIGRATE", "127.0.0.1", dest.port, "", 0, 5000, "KEYS", *keys)
    for node in cluster.primaries:
        run(node, "CLUSTER", "SETSLOT", slot, "NODE", dest_id)
    return dest


def _primary_of(store: TokenStore, cluster: Cluster, key: str) -> Node:
    client = redis_of(store)
    assert isinstance(client, RedisCluster)
    return _owner(cluster, client.keyslot(key))[0]


@pytest.mark.rule("abuse.bounded.grants-per-client")
async def test_a_client_credentials_grant_is_placed_on_its_clients_primary_and_follows_a_move(
    on_cluster: TokenStore, redis_cluster: Cluster, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client's own grant gets an id whose slot the client's primary serves (by the slot
    map), so an issue at the cap sends each of its round trips (the write and the indexes,
    the displaced grant's sweep) to that one node. A
    placement, never a guarantee: once the client's slot has moved to another primary,
    issuing still answers right (the grants the cap displaces are revoked where they are,
    both indexes hold exactly the live grants), and the next grants follow the client."""
    store = capped(on_cluster, client=3)
    await gateway(store).load(*ALL_SCRIPTS)  # no NOSCRIPT round trip to count
    k = store.keys
    source = _primary_of(store, redis_cluster, k.client("svc"))
    trips: list[tuple[int, list[Any]]] = []
    node_trip = ClusterRouter._node_trip

    async def recorded(router: ClusterRouter, node: Any, commands: list[Any], *rest: Any
                       ) -> Any:
        if commands != [("PING",)]:  # the local cache's settling round trip goes everywhere
            trips.append((int(node.port), commands))
        return await node_trip(router, node, commands, *rest)

    monkeypatch.setattr(ClusterRouter, "_node_trip", recorded)
    placed = []
    for _ in range(4):  # the fourth displaces the first
        clock.advance(1)
        trips.clear()
        placed.append(await store.issue(_own()))
    assert [port for port, _ in trips] == [source.port] * 2, trips
    assert all(_primary_of(store, redis_cluster, k.members(t.token.grant_id)) is source
               for t in placed)

    client = redis_of(store)
    assert isinstance(client, RedisCluster)
    dest = _move_slot(redis_cluster, client.keyslot(k.client("svc")),
                      {k.client_index("svc"), k.own_index("svc")})
    moved = []
    for _ in range(4):  # the first learns of the move (MOVED); the next are placed anew
        clock.advance(1)
        moved.append(await store.issue(_own()))
    assert all(_primary_of(store, redis_cluster, k.members(t.token.grant_id)) is dest
               for t in moved[1:])
    live = [t for t in [*placed, *moved] if await store.resolve(t.access_token) is not None]
    assert live == moved[1:]
    kept = sorted(t.token.grant_id for t in live)
    redis = client
    assert sorted(texts(await redis.zrange(k.own_index("svc"), 0, -1))) == kept
    # and the grant the last issue displaced, swept, whose entry waits for the next issue
    assert sorted(texts(await redis.zrange(k.client_index("svc"), 0, -1))) == sorted(
        [*kept, moved[0].token.grant_id])
    assert await redis.exists(k.displaced(k.own_index("svc"))) == 0
    for gone in [*placed, moved[0]]:
        assert await redis.exists(k.members(gone.token.grant_id)) == 0
