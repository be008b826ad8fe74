"""Real topologies (issue 13 §5) reached through the URL forms of the store (§2).

Each harness of tests/topologies.py is proved here: the client our URL gives
connects and answers, a cluster spreads keys over all three primaries, the Sentinel
client follows a promotion, TLS needs its CA and client certificate, and an ACL user
runs the store but nothing outside its prefix.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoPermissionError, RedisClusterException

from oauth_middleware import TokenStore
from oauth_middleware.models import AccessToken
from oauth_middleware.store import NewTokens, StoreRefused, StoreUnavailable
from oauth_middleware.store._gateway.urls import open_url
from tests.store_helpers import redis_of
from tests.topologies import FORM_BOUND, acl_server, cluster, sentinel, tls_server

#: Keys written to a cluster: enough that every primary gets some whatever the slots.
MANY = 300


async def _spread_over(url: str, prefix: str) -> None:
    client = open_url(url)
    assert isinstance(client, RedisCluster)
    try:
        assert await client.ping()
        for number in range(MANY):
            await client.set(f"{prefix}:{number}", b"x")
        keys = {f"{prefix}:{n}".encode() for n in range(MANY)}
        assert set(await client.mget_nonatomic(sorted(keys))) == {b"x"}
    finally:
        await client.aclose()


@pytest.mark.topology
async def test_a_cluster_url_reaches_a_three_primary_cluster_and_keys_land_on_every_primary(
) -> None:
    with cluster() as made:
        await _spread_over(made.url, "grant")
        sizes = [node.client().dbsize() for node in made.primaries]
        assert sum(sizes) == MANY and all(size > MANY // 10 for size in sizes), sizes


@pytest.mark.topology
async def test_a_tls_cluster_with_an_acl_user_is_reached_through_its_url_and_only_under_the_prefix(
) -> None:
    with cluster(tls=True, user=("store", "cluster/pw@:", "om:")) as made:
        assert made.url.startswith("rediss+cluster://store:cluster%2Fpw%40%3A@127.0.0.1:")
        await _spread_over(made.url, "om:grant")
        sizes = [node.client().dbsize() for node in made.primaries]
        assert sum(sizes) == MANY and all(sizes), sizes
        client = open_url(made.url)
        try:
            with pytest.raises(NoPermissionError):
                await client.set("elsewhere", b"x")
        finally:
            await client.aclose()
        plain = open_url(made.url.replace("rediss+", "redis+").partition("?")[0])
        with pytest.raises(RedisClusterException):
            await plain.ping()
        await plain.aclose()


@pytest.mark.topology
async def test_a_cluster_with_replicas_copies_every_primary_to_its_replica() -> None:
    with cluster(replicas=1) as made:
        await _spread_over(made.url, "grant")
        roles = [node.client().info("replication")["role"] for node in made.replicas]
        assert roles == ["slave"] * 3
        for primary in made.primaries:
            assert primary.client().wait(1, 2000) == 1
        primary_sizes = sorted(node.client().dbsize() for node in made.primaries)
        replica_sizes = sorted(node.client().dbsize() for node in made.replicas)
        assert replica_sizes == primary_sizes and sum(primary_sizes) == MANY
        assert all(size > 0 for size in primary_sizes)


async def _issue(store: TokenStore) -> str:
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"polls:read"})))
    return issued.access_token


async def _until_resolves(store: TokenStore, value: str) -> AccessToken:
    """Ask again until the store answers; fail past the bound (a failover takes seconds)."""
    deadline = time.monotonic() + FORM_BOUND
    while True:
        try:
            found = await store.resolve(value)
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)  # polling the store back, not timing a behaviour
            continue
        assert found is not None
        return found


@pytest.mark.topology
@pytest.mark.failover
async def test_a_sentinel_url_follows_the_promotion_of_the_replica_after_kill_9() -> None:
    with sentinel() as made:
        store = TokenStore.from_url(made.url)
        try:
            before = await _issue(store)
            assert made.primary.client().wait(1, 2000) == 1
            assert made.primary_port() == made.primary.port
            made.primary.kill()
            found = await _until_resolves(store, before)
            assert found.user == "alice"
            assert made.primary_port() == made.replica.port
            after = await _issue(store)
            assert (await store.resolve(after)) is not None
            assert made.replica.client().info("replication")["role"] == "master"
        finally:
            await store.aclose()


@pytest.mark.topology
async def test_tls_with_the_test_ca_and_a_client_certificate_works_and_without_either_fails(
) -> None:
    with tls_server() as made:
        good = TokenStore.from_url(made.url())
        no_ca = TokenStore.from_url(made.url(ca=False))
        no_cert = TokenStore.from_url(made.url(client_cert=False))
        try:
            token = await _issue(good)
            assert (await good.resolve(token)) is not None
            for refused in (no_ca, no_cert):
                with pytest.raises(StoreUnavailable):
                    await refused.resolve(token)
            assert made.node.client().dbsize() > 0
        finally:
            for store in (good, no_ca, no_cert):
                await store.aclose()


@pytest.mark.topology
async def test_an_acl_user_runs_the_store_under_its_prefix_and_is_refused_outside_it() -> None:
    with acl_server(prefix="om:") as made:
        store = TokenStore.from_url(made.url(), prefix="om:")
        elsewhere = TokenStore.from_url(made.url(), prefix="other:")
        try:
            token = await _issue(store)
            found = await store.resolve(token)
            assert found is not None and found.user == "alice"
            assert await store.revoke_token(token)
            assert await store.resolve(token) is None
            with pytest.raises(NoPermissionError):
                await redis_of(store).set("not-ours", b"x")
            with pytest.raises(StoreRefused) as refused:
                await _issue(elsewhere)
            assert "no permissions" in refused.value.reply.lower()
            keys: Any = made.node.client().keys("*")
            assert keys and all(key.startswith("om:") for key in keys)
        finally:
            await store.aclose()
            await elsewhere.aclose()
