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
from tests.store_helpers import cache_of, redis_of
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
    # of the revoked grant, only its tombstone is left, on the slot's new owner
    assert dest.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10) == [
        on_cluster.keys.gone(target.token.grant_id)]
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
