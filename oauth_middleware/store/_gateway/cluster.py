"""Redis Cluster under the gateway: each tick's commands routed by slot, one pipeline per node.

Why our own routing rather than redis-py's cluster pipeline: the gateway already batches a
loop iteration's command lists into one round trip (:mod:`.pipeline`), and a durable write
needs its ``WAIT`` on the very connection that carried it (``WAIT`` counts the writes of
its own connection). So a tick's commands are grouped by the node that holds each one's
slot, every group goes out as one pipeline on one connection of that node (all nodes at
once), and a group with a durable list ends with its own ``WAIT``: a list is durable only
when every node it wrote to confirmed it.

Every command names its key first (a script its first key): that key's slot picks the
node. The store's key schema keeps every script and multi-key command in one slot
(:mod:`oauth_middleware.store.keys`). Keyless commands (``PING``) go to one primary.

Redirections: a ``MOVED`` reply means the command did not run; the slot map is read
again and the command resent to the new owner, as is a ``TRYAGAIN`` (a slot mid-move).
An ``ASK`` reply sends it once to the named node, after ``ASKING``. Past
:data:`REDIRECTIONS` rounds the error reply stays in place, and the caller's call fails
as an unavailable store (503). A connection failure fails the whole tick (503, as on one
node) and has the slot map read again before the next one: a failover promoted a replica.
"""

from __future__ import annotations

import asyncio
import logging
from binascii import crc_hqx
from collections.abc import Callable, Sequence
from typing import Any

from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    MovedError,
    RedisClusterException,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError

from oauth_middleware.store._gateway.connection import STORE_ERRORS
from oauth_middleware.store._gateway.durability import StoreNotDurable, Wait
from oauth_middleware.store._gateway.pipeline import (
    Pipelines,
    _Entry,
    _send_and_read,
    answered_or_failed,
)
from oauth_middleware.store._gateway.script import Command, Replies

logger = logging.getLogger("oauth_middleware.store")

#: Rounds of resending after MOVED, ASK or TRYAGAIN before the command fails (503).
REDIRECTIONS = 3
#: The last characters an id placed by :meth:`ClusterRouter.near` may end with instead of
#: its own (URL-safe base64): each lands on a given node with a chance of one in the number
#: of primaries, so on three all 64 miss once in 10^11 issues, and on ten once in a thousand.
PLACEMENT_ENDINGS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#: Commands with no key: sent to the first primary.
KEYLESS = frozenset({"PING", "TIME", "WAIT", "INFO"})


#: A slot is a key's CRC16 modulo 16384 (redis-py's ``key_slot``), taken as these bits.
SLOT_MASK = 16383


def slot_of(key: Any) -> int:
    """The slot of ``key``: redis-py's ``key_slot`` of it as the client sends it (text as
    UTF-8), without the client's encoder and its type checks, as every command routed and
    every key batched pays it. Text (every key the store spells) has its hash tag found in
    place: the braces are ASCII, so they sit where they would in its UTF-8 bytes."""
    if type(key) is not str:
        return key_slot(key)
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            key = key[start + 1:end]
    return crc_hqx(key.encode(), 0) & SLOT_MASK


def key_of(command: Command) -> Any:
    """The key whose slot routes ``command`` (None: keyless)."""
    name = command[0]
    if type(name) is not str or not name.isupper():  # the store's own are in capitals
        name = str(name).upper()
    if name == "EVALSHA":
        return command[3] if int(command[2]) > 0 else None
    if name in KEYLESS or len(command) < 2:
        return None
    if name == "XREAD":  # XREAD [COUNT n] [BLOCK ms] STREAMS key id: one stream, its key
        words = [str(word).upper() for word in command]
        return command[words.index("STREAMS") + 1]
    return command[1]


class ClusterRouter:
    """Sends commands to the nodes that hold their slots; reads the slot map when it moved."""

    def __init__(self, client: RedisCluster) -> None:
        self.client = client
        self._stale = True
        self._lock = asyncio.Lock()
        #: Called whenever the slot map may have moved (the local cache flushes, see
        #: :mod:`.cluster_cache`).
        self.on_remap: Callable[[], None] | None = None

    def remap(self) -> None:
        """A redirection or a failed node: read the slot map again before the next trip."""
        self._stale = True
        if self.on_remap is not None:
            self.on_remap()

    async def ready(self) -> None:
        """Read the slot map first, or again after a failure or a redirection."""
        if self._stale:
            async with self._lock:
                if self._stale:
                    await self.client.nodes_manager.initialize()
                    self._stale = False

    def near(self, key: str, new_id: Callable[[], str]) -> str:
        """``new_id()`` (URL-safe text), its last character changed if need be (to one of
        :data:`PLACEMENT_ENDINGS`, tried from its own on) so that the slot of the id as a
        hash tag is served by the primary that serves ``key``'s slot, by the slot map as
        last read: the keys tagged with it then share that node's pipeline with ``key``'s.
        All but the last character stay as drawn, so the id stays unguessable and unique;
        the slot of each ending is the CRC16 of the drawn head carried one character on
        (Redis Cluster's slot is CRC16 modulo 16384), not a new draw and hash per try.
        A placement, never a guarantee: the id is kept as drawn when no ending lands there,
        and a reshard or a failover may move either slot later (a key is routed by its own
        slot at every trip, so a miss costs a node trip, never an answer)."""
        slots = self.client.nodes_manager.slots_cache
        owners = slots.get(slot_of(key))
        value = new_id()
        if not owners:  # the slot map not read yet, or the slot not served
            return value
        target = owners[0].name
        head, own = value[:-1], value[-1]
        crc = crc_hqx(head.encode(), 0)
        start = PLACEMENT_ENDINGS.find(own)
        for ending in PLACEMENT_ENDINGS[start:] + PLACEMENT_ENDINGS[:start]:
            placed = slots.get(crc_hqx(ending.encode(), crc) & SLOT_MASK)
            if placed and placed[0].name == target:
                return head + ending
        return value

    def node_for(self, command: Command) -> ClusterNode:
        """The primary serving ``command``'s slot, read from the slot map directly (redis-py's
        ``get_node_from_slot`` weighs replica reads first: per command routed)."""
        key = key_of(command)
        manager = self.client.nodes_manager
        if key is None:
            return manager.get_nodes_by_server_type("primary")[0]
        slot = slot_of(key)
        owners = manager.slots_cache.get(slot)
        return owners[0] if owners else manager.get_node_from_slot(slot)  # raises: uncovered

    async def exchange(self, commands: Sequence[Command], wait: Wait | None
                       ) -> tuple[Replies, list[int | None]]:
        """Each command's reply, and how many replicas confirmed its node's writes (None
        without ``wait``), resending redirected commands (:data:`REDIRECTIONS`).

        redis-py's cluster errors that are not ``RedisError`` (no reachable node to read the
        slot map from, a slot no node covers mid-failover) leave as a ``ConnectionError``:
        an unavailable store (503), never a bug (500)."""
        try:
            return await self._exchange(commands, wait)
        except RedisClusterException as exc:
            self.remap()
            raise RedisConnectionError(type(exc).__name__) from None

    async def _exchange(self, commands: Sequence[Command], wait: Wait | None
                        ) -> tuple[Replies, list[int | None]]:
        replies: Replies = [None] * len(commands)
        acked: list[int | None] = [None] * len(commands)
        pending: dict[int, ClusterNode | None] = dict.fromkeys(range(len(commands)))
        for round_ in range(REDIRECTIONS + 1):
            if self._stale:  # the slot map, read again after a redirection
                await self.ready()
            # by node name: a ClusterNode hashes in Python, once per command
            groups: dict[str, tuple[ClusterNode, list[int]]] = {}
            for i, asked in pending.items():
                node = asked or self.node_for(commands[i])
                group = groups.get(node.name)
                if group is None:
                    groups[node.name] = (node, [i])
                else:
                    group[1].append(i)
            asking = {i for i, asked in pending.items() if asked is not None}
            trips = [self._node_trip(node, [commands[i] for i in idx],
                                     [i in asking for i in idx], wait)
                     for node, idx in groups.values()]
            # one node (most ticks of a lightly loaded worker): no task to schedule
            results = [await trips[0]] if len(trips) == 1 else await asyncio.gather(*trips)
            pending = {}
            for (_, idx), (node_replies, ack) in zip(groups.values(), results, strict=True):
                for i, reply in zip(idx, node_replies, strict=True):
                    replies[i], acked[i] = reply, ack
                    if round_ < REDIRECTIONS and isinstance(reply, (AskError, TryAgainError)):
                        pending[i] = self._asked(reply)
            if not pending:
                break
        return replies, acked

    async def everywhere(self, command: Command) -> None:
        """Send ``command`` to every primary at once (an error reply raises)."""
        try:
            await self.ready()
            primaries = self.client.nodes_manager.get_nodes_by_server_type("primary")
            results = await asyncio.gather(*(self._node_trip(node, [command], [False], None)
                                             for node in primaries))
        except RedisClusterException as exc:
            self.remap()
            raise RedisConnectionError(type(exc).__name__) from None
        for (reply,), _ in results:
            if isinstance(reply, ResponseError):
                raise reply

    def _asked(self, reply: ResponseError) -> ClusterNode | None:
        """Where a redirected command goes next: the ASK target, or (None) its slot's owner
        once the map is read again. Either way a slot is moving: :attr:`on_remap` hears of it."""
        if isinstance(reply, AskError) and not isinstance(reply, MovedError):
            node = self.client.nodes_manager.get_node(host=reply.host, port=reply.port)
            if node is not None:
                if self.on_remap is not None:
                    self.on_remap()
                return node
        self.remap()
        return None

    async def _node_trip(self, node: ClusterNode, commands: list[Command],
                         asking: list[bool], wait: Wait | None) -> tuple[Replies, int | None]:
        """One pipeline on one connection of ``node``: ``ASKING`` before each asked command,
        ``WAIT`` at the end when durable; the replies of the commands alone (nothing to
        pick out when no command was asked: every tick but those of a moving slot)."""
        asked = any(asking)
        flat: list[Command] = list(commands)
        if asked:
            flat = []
            for command, ask in zip(commands, asking, strict=True):
                flat += [("ASKING",), command] if ask else [command]
        if wait is not None:
            flat.append(("WAIT", *wait))
        connection = node.acquire_connection()
        try:
            replies = await _send_and_read(connection, flat)
        except STORE_ERRORS:
            self.remap()
            await connection.disconnect(nowait=True)
            raise
        finally:
            node.release(connection)
        ack = None
        if wait is not None:
            last = replies.pop()
            ack = last if isinstance(last, int) else -1
        if not asked:
            return replies, ack
        kept = iter(replies)
        out = []
        for ask in asking:
            if ask:
                next(kept)
            out.append(next(kept))
        return out, ack


class ClusterPipelines(Pipelines):
    """:class:`.pipeline.Pipelines` whose round trip goes through a :class:`ClusterRouter`."""

    __slots__ = ("_router",)

    def __init__(self, router: ClusterRouter) -> None:
        super().__init__(lambda: router.client)  # type: ignore[arg-type,return-value]
        self._router = router

    async def _round_trip(self, batch: list[_Entry]) -> None:
        batch = [entry for entry in batch if not entry[1].done()]
        if not batch:
            return

        async def send() -> tuple[Replies, list[int | None]]:
            flat = [command for commands, _, _ in batch for command in commands]
            waits = [wait for _, _, wait in batch if wait is not None]
            wait = (max(n for n, _ in waits), max(ms for _, ms in waits)) if waits else None
            return await self._router.exchange(flat, wait)

        sent = await answered_or_failed(batch, send)
        if sent is None:
            return
        replies, acked = sent
        start = 0
        for commands, waiter, own in batch:
            end = start + len(commands)
            if not waiter.done():
                if own is not None and any(
                        (a if a is not None else -1) < own[0] for a in acked[start:end]):
                    waiter.set_exception(StoreNotDurable(replies[start:end], own))
                else:
                    waiter.set_result(replies[start:end])
            start = end


class ClusterReader:
    """What :class:`.batch.Batcher` reads through on a cluster: one ``MGET`` per slot, every
    node at once, in one round trip of the router."""

    def __init__(self, router: ClusterRouter) -> None:
        self._router = router

    async def get(self, key: str) -> Any:
        (value,) = await self.mget([key])
        return value

    async def mget(self, keys: Sequence[str]) -> list[Any]:
        by_slot: dict[int, list[int]] = {}
        for i, key in enumerate(keys):
            by_slot.setdefault(slot_of(key), []).append(i)
        groups = list(by_slot.values())
        replies, _ = await self._router.exchange(
            [("MGET", *(keys[i] for i in idx)) for idx in groups], None)
        values: list[Any] = [None] * len(keys)
        split: list[int] = []
        for idx, reply in zip(groups, replies, strict=True):
            if isinstance(reply, TryAgainError):  # a slot mid-move, its keys on two nodes
                split.extend(idx)
                continue
            if isinstance(reply, ResponseError):
                raise reply
            for i, value in zip(idx, reply, strict=True):
                values[i] = value
        if split:  # one key never spans nodes: each GET is answered or ASKed where it went
            singles, _ = await self._router.exchange([("GET", keys[i]) for i in split], None)
            for i, single in zip(split, singles, strict=True):
                if isinstance(single, ResponseError):
                    raise single
                values[i] = single
        return values
