"""Operations of a Redis Cluster that go to every primary in turn, not by key: reading
the configuration, counting replicas, and SCAN pages of the whole keyspace."""

from __future__ import annotations

import inspect
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, ResponseError

from oauth_middleware.store._gateway.cluster import ClusterRouter
from oauth_middleware.store._gateway.health import RedisHealth, check
from oauth_middleware.store._gateway.pipeline import _send_and_read


async def connected_replicas(client: RedisCluster) -> int:
    """The fewest replicas any primary has: what ``min_replicas`` auto can count on."""
    infos = await client.info("replication", target_nodes=RedisCluster.PRIMARIES)
    counts = [int(info.get("connected_slaves", 0)) for info in infos.values()]
    return min(counts, default=0)


async def cluster_health(client: RedisCluster, *, allow_eviction: bool = False) -> RedisHealth:
    """:func:`.health.check` of every primary (each holds a share of the data): the first
    that refuses to serve, or every primary's notes together."""
    await client.initialize()
    notes: list[str] = []
    health = RedisHealth()
    for node in client.nodes_manager.get_nodes_by_server_type("primary"):
        one = _node_client(node)
        try:
            health = await check(one, allow_eviction=allow_eviction, cluster_node=True)
        finally:
            await one.aclose()
        notes += [note for note in health.notes if note not in notes]
    return RedisHealth(health.eviction_policy, health.appendonly, health.save, True,
                       tuple(notes))


def _node_client(node: ClusterNode) -> aioredis.Redis:
    """A plain client of one node, with the cluster's credentials, timeouts and TLS."""
    accepted = inspect.signature(aioredis.Redis.__init__).parameters
    kwargs = {k: v for k, v in node.connection_kwargs.items() if k in accepted}
    kwargs["ssl"] = issubclass(node.connection_class, SSLConnection)
    return aioredis.Redis(**kwargs)


#: Bits of a cluster SCAN cursor that name the primary (:func:`scan_page`).
NODE_BITS = 10


async def scan_page(router: ClusterRouter, cursor: int, pattern: str, count: int
                    ) -> tuple[int, list[Any]]:
    """One ``SCAN`` page of the whole cluster: the primaries in name order, one after the
    other (a primary with nothing left to give hands on to the next in the same call); the
    cursor carries the primary's place in its low :data:`NODE_BITS` bits. A reshard while
    paging may show a key twice or miss one that moved (as ``SCAN`` may)."""
    try:
        await router.ready()
    except RedisClusterException as exc:
        raise RedisConnectionError(type(exc).__name__) from None
    nodes = sorted(router.client.nodes_manager.get_nodes_by_server_type("primary"),
                   key=lambda node: node.name)
    place, node_cursor = cursor & ((1 << NODE_BITS) - 1), cursor >> NODE_BITS
    while place < len(nodes):
        next_cursor, keys = await _scan_node(nodes[place], node_cursor, pattern, count)
        if next_cursor:
            return next_cursor << NODE_BITS | place, keys
        place, node_cursor = place + 1, 0
        if keys:
            return (place if place < len(nodes) else 0), keys
    return 0, []


async def _scan_node(node: ClusterNode, cursor: int, pattern: str, count: int
                     ) -> tuple[int, list[Any]]:
    connection = node.acquire_connection()
    try:
        (reply,) = await _send_and_read(
            connection, [("SCAN", cursor, "MATCH", pattern, "COUNT", count)])
    finally:
        node.release(connection)
    if isinstance(reply, ResponseError):
        raise reply
    return int(reply[0]), list(reply[1])
