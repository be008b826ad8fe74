"""The opt-in local cache on a Redis Cluster: one invalidation connection per primary, and
nothing served across a change of the slot map.

Tracking is per node: a primary sends invalidations for the keys it holds, to
connections it holds. So :class:`ClusterTokenCache` keeps, per session, one
connection to every primary of the slot map, each with the single-node set-up
(:meth:`.cache.TokenCache._subscribed`: ``CLIENT TRACKING ... REDIRECT`` to itself,
``BCAST`` for the tracked prefixes, RESP2). Every rule of :mod:`.cache` holds per
connection; on top of them, for the slot map:

* A hit is served only while every connection is live and none has anything unread:
  the lease is extended only when every primary answered the heartbeat.
* Each heartbeat also asks every linked primary, on a pooled connection, for its id and
  its ``CLUSTER SLOTS``: every primary must report the same map, its primaries must be
  exactly the linked ones, and the map must be the one of the session's first heartbeat.
  Anything else (a slot handed over, a failover, a primary added or demoted, a node that
  does not answer) ends the session: everything is flushed, nothing is served, the slot
  map is read again and a new connection opened to every primary of it.
* A lost connection to any primary ends the session the same way (a killed primary is
  seen at once: its socket is closed, and :meth:`.invalidation.Invalidations.pending`
  reports it before any hit).
* A ``MOVED``, ``ASK`` or ``TRYAGAIN`` reply, or a failed node, met by any read or write
  of this process (:meth:`.cluster.ClusterRouter.remap`) flushes everything at once and
  spoils the reads in flight, whatever the heartbeat has seen yet.
* A reply is kept only under a key whose slot belongs, in the router's current map, to a
  linked primary: a key read from a node no connection tracks is never kept.
* ``MIGRATE`` deletes each key it moves from its old owner, which sends the
  invalidation like any other delete; the new owner is linked, and tracks it from then.

A write's invalidation reaches every worker before the write returns: after it,
:meth:`.gateway.Gateway.settled` sends a ``PING`` to every primary (one round trip,
in parallel), not only to one. ``SWAPDB`` does not exist on a cluster, so there is no
database generation to read.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.asyncio.cluster import ClusterNode
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, ResponseError

from oauth_middleware.store._gateway.cache import (
    _LOST,
    CACHE_SIZE,
    HEARTBEAT,
    LEASE,
    RECONNECT_DELAY,
    TokenCache,
    _bounded,
    all_answered,
)
from oauth_middleware.store._gateway.cluster import ClusterRouter, slot_of
from oauth_middleware.store._gateway.invalidation import Invalidations
from oauth_middleware.store._gateway.pipeline import _send_and_read

logger = logging.getLogger("oauth_middleware.store")

#: What ends a cluster session: a single-node loss, or no slot map to be read.
_ENDS: tuple[type[BaseException], ...] = (*_LOST, RedisClusterException)
#: A slot map: (first slot, last slot, primary's node id), sorted.
SlotMap = tuple[tuple[int, int, str], ...]


class TopologyChanged(RedisConnectionError):
    """The slot map is not the one the session's connections were opened for."""


class ClusterTokenCache(TokenCache):
    """:class:`.cache.TokenCache` with one invalidation connection per primary."""

    def __init__(self, router: ClusterRouter, *prefixes: str, size: int = CACHE_SIZE,
                 heartbeat: float = HEARTBEAT, lease: float = LEASE) -> None:
        super().__init__(_no_single_connection, *prefixes, size=size, heartbeat=heartbeat,
                         lease=lease)
        self._router = router
        self._links: tuple[Invalidations, ...] = ()
        #: Names (host:port) of the linked primaries, as the router's map names them.
        self._names: frozenset[str] = frozenset()
        router.on_remap = self.flush

    def live(self) -> bool:
        if self._loop is not asyncio.get_running_loop():
            self._start()
        links = self._links
        if not links or time.monotonic() >= self._serving_until:
            return False
        return not any(link.pending() for link in links)

    def _tracks(self, key: str) -> bool:
        if not key.startswith(self.prefixes):
            return False
        client = self._router.client
        try:
            node = client.nodes_manager.get_node_from_slot(slot_of(key))
        except RedisClusterException:
            return False
        return node is not None and node.name in self._names

    async def _listen(self) -> None:
        while True:
            conns: list[AbstractConnection] = []
            try:
                await _bounded(asyncio.ensure_future(self._router.ready()), self.lease)
                nodes = self._router.client.nodes_manager.get_nodes_by_server_type("primary")
                conns = [_dedicated(node) for node in nodes]
                await self._session(nodes, conns)
            except _ENDS as exc:
                logger.warning("token cache: cluster invalidation session ended (%s); cache "
                               "off until every primary is tracked again", type(exc).__name__)
                if not isinstance(exc, ResponseError):  # a refusal (ACL) moved no slot
                    self._router.remap()  # the next session, and requests, read the map
            finally:
                self._links, self._names = (), frozenset()
                self._stop_serving()
                for conn in conns:
                    await conn.disconnect(nowait=True)
            await asyncio.sleep(RECONNECT_DELAY)

    async def _session(self, nodes: list[ClusterNode],  # type: ignore[override]
                       conns: list[AbstractConnection]) -> None:
        """Subscribe on every primary, then heartbeat them all until one fails, stops
        answering or reports another slot map (every wait bounded, as in :mod:`.cache`)."""
        links = await _gather([self._subscribed(conn) for conn in conns])
        self._links, self._names = tuple(links), frozenset(node.name for node in nodes)
        self.flush()  # anything read before tracking began may have missed its invalidation
        first: SlotMap | None = None
        while True:
            sent = time.monotonic()
            seen = await self._beat(links, nodes)
            if first is not None and seen != first:
                raise TopologyChanged("the slot map changed")
            first = seen
            self._serving_until = sent + self.lease
            await asyncio.sleep(max(0.0, sent + self.heartbeat - time.monotonic()))

    async def _beat(self, links: list[Invalidations], nodes: list[ClusterNode]) -> SlotMap:
        """A PING answered on every link, and the one slot map every linked primary
        reports, made of exactly the linked primaries (:class:`TopologyChanged` if not)."""
        manager = self._router.client.nodes_manager
        now = [manager.get_node(node_name=node.name) for node in nodes]
        if None in now:
            raise TopologyChanged("a linked primary left the slot map")
        pings = [link.ask("PING", timeout=self.lease) for link in links]
        views = [_view(node) for node in now if node is not None]
        answers: list[tuple[str, SlotMap]] = (
            await all_answered([*pings, *views], self.lease))[len(pings):]
        maps = {slots for _, slots in answers}
        ids = {node_id for node_id, _ in answers}
        if len(maps) != 1 or {owner for *_, owner in next(iter(maps))} != ids:
            raise TopologyChanged("the primaries do not agree on the slot map")
        return maps.pop()


async def _view(node: ClusterNode) -> tuple[str, SlotMap]:
    """``node``'s id and its ``CLUSTER SLOTS``, on one of its pooled connections."""
    connection = node.acquire_connection()
    try:
        my_id, slots = await _send_and_read(connection, [("CLUSTER", "MYID"),
                                                         ("CLUSTER", "SLOTS")])
    except BaseException:
        await connection.disconnect(nowait=True)  # a reply may be left unread on it
        raise
    finally:
        node.release(connection)
    for reply in (my_id, slots):
        if isinstance(reply, ResponseError):
            raise reply
    return _text(my_id), tuple(sorted((int(first), int(last), _text(primary[2]))
                                      for first, last, primary, *_ in slots))


async def _gather(tasks: list[Any]) -> list[Any]:
    """Every result, or the first failure with the others cancelled."""
    futures = [asyncio.ensure_future(task) for task in tasks]
    try:
        return list(await asyncio.gather(*futures))
    finally:
        for future in futures:
            future.cancel()


def _dedicated(node: ClusterNode) -> AbstractConnection:
    """A RESP2 connection to ``node`` outside its pool, with the cluster's credentials and
    TLS, and no timeouts of its own (see :func:`.connection.dedicated`)."""
    kwargs = {key: value for key, value in node.connection_kwargs.items() if "maint" not in key}
    connection: AbstractConnection = node.connection_class(**{
        **kwargs, "protocol": 2, "socket_timeout": None, "socket_connect_timeout": None,
    })
    return connection


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _no_single_connection() -> AbstractConnection:
    raise AssertionError("a cluster cache opens one connection per primary")  # pragma: no cover
