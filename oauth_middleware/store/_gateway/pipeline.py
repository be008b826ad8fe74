"""Coalesced round trips: every command list of one loop iteration in one pipeline.

Why: under concurrency redis-py's own per-call work (a ``Pipeline`` object, its
command stack, retry wrapper, observability hooks, pool lock, one timeout per
reply) cost 80-180 µs of CPU per round trip, several times what Redis spends.
A request sends one short list of commands at a time (a client read, a grant
write). :meth:`Pipelines.send` queues that list and waits;
at the end of the current loop iteration every list queued during it goes out
in one round trip on one pooled connection, packed by :func:`packed` (hiredis's
packer, or redis-py's), written with ``send_packed_command`` and read with ``read_response``,
and each waiter gets exactly its own replies. A batch of one is a plain
pipeline.

What stays as it was:

* Each list is a non-transactional pipeline, its commands contiguous and in
  order; lists of different requests never interleave. Error replies are kept
  per command (a ``ResponseError`` in its place) for the caller to judge.
* Timeouts and retries are the connection's: ``socket_timeout`` per reply, and
  the connection's ``Retry`` policy resends the whole batch after a connection
  error or time-out, as redis-py resends a pipeline (one immediate retry, see
  :mod:`.connection`; the embedded store has none). Scripts that must not run
  twice recognise their own resend (``_grant_scripts.CONSUME_AND_ISSUE``,
  ``_consent.TAKE_PENDING``). A frozen Redis still fails within ~2 s.
* Failures are per waiter: each one raises its own :class:`StoreUnavailable`.

A list sent with a ``wait`` (:mod:`.durability`) must reach replicas: the batch then
ends with one ``WAIT`` for the largest count asked, which covers every write before
it on the connection, so any number of durable writes of one tick cost one ``WAIT``.
A list whose count the reply does not reach gets :class:`.durability.StoreNotDurable`
(with its replies); the other lists of the batch are answered as usual. A batch with
no durable list sends no ``WAIT``.

Like every pipeline the batch may name keys of several cluster slots; each
script still touches one slot (see :mod:`oauth_middleware.store.keys`). A Redis Cluster client would
have to split a batch by slot, as its pipelines do.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

from oauth_middleware.store._gateway.connection import STORE_ERRORS, unavailable
from oauth_middleware.store._gateway.durability import StoreNotDurable, Wait
from oauth_middleware.store._gateway.script import Command, Replies

_pack: Callable[[Any], bytes] | None
try:  # the ``fast`` extra (see :func:`packed`)
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - the test suite runs with hiredis installed
    _pack = None
_HiredisParser: type[Any] | None
_NOT_ENOUGH: Any
try:  # the parser redis-py reads with when hiredis is installed (see :func:`_buffered`)
    from redis._parsers.hiredis import NOT_ENOUGH_DATA as _NOT_ENOUGH
    from redis._parsers.hiredis import _AsyncHiredisParser as _HiredisParser
except ImportError:  # pragma: no cover - older redis-py: read_response only
    _NOT_ENOUGH, _HiredisParser = object(), None

logger = logging.getLogger("oauth_middleware.store")
_Entry = tuple[Sequence[Command], asyncio.Future[Replies], Wait | None]
_R = TypeVar("_R")


class Pipelines:
    """One round trip per loop iteration for every command list queued during it."""

    __slots__ = ("_client", "_loop", "_queue", "_tasks")

    def __init__(self, client: Callable[[], aioredis.Redis]) -> None:
        #: Looked up at send time, so a client swapped on the store is the one used.
        self._client = client
        self._queue: list[_Entry] = []
        #: Strong references to the round trips in flight (the loop keeps only weak ones).
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def send(self, commands: Sequence[Command], wait: Wait | None = None
             ) -> asyncio.Future[Replies]:
        """A future for the replies to ``commands``, sent with the rest of this tick's lists;
        with ``wait``, confirmed by that many replicas or failed (:mod:`.durability`)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # Lists queued on a loop that stopped before flushing them can never be answered.
            self._queue, self._loop = [], loop
        waiter: asyncio.Future[Replies] = loop.create_future()
        if not self._queue:
            loop.call_soon(self._flush, loop)
        self._queue.append((commands, waiter, wait))
        return waiter

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop or not self._queue:
            return
        batch, self._queue = self._queue, []
        task = loop.create_task(self._round_trip(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _round_trip(self, batch: list[_Entry]) -> None:
        batch = [entry for entry in batch if not entry[1].done()]  # cancelled meanwhile
        if not batch:
            return
        waits = [wait for _, _, wait in batch if wait is not None]

        async def send() -> Replies:
            flat = [command for commands, _, _ in batch for command in commands]
            if waits:
                flat.append(("WAIT", max(n for n, _ in waits), max(ms for _, ms in waits)))
            return await exchange(self._client().connection_pool, flat)

        replies = await answered_or_failed(batch, send)
        if replies is None:
            return
        _answer(batch, replies[:-1] if waits else replies, replies[-1] if waits else None)


def _answer(batch: list[_Entry], replies: Replies, acked: Any) -> None:
    """Each waiter its own replies; a durable list that ``WAIT``'s reply (``acked``: how many
    replicas confirmed, or an error reply) falls short of, the failure instead."""
    start = 0
    for commands, waiter, wait in batch:
        end = start + len(commands)
        if not waiter.done():
            if wait is not None and not (isinstance(acked, int) and acked >= wait[0]):
                waiter.set_exception(StoreNotDurable(replies[start:end], wait))
            else:
                waiter.set_result(replies[start:end])
        start = end


async def answered_or_failed(batch: list[_Entry], send: Callable[[], Awaitable[_R]]
                             ) -> _R | None:
    """What ``send()`` returned; or None once every waiter of ``batch`` has its failure:
    an outage as a 503, a bug as itself. Building the commands belongs inside ``send``:
    a bug there must reach the waiters, not strand them."""
    try:
        return await send()
    except STORE_ERRORS as exc:
        logger.warning("token store unavailable: %s", type(exc).__name__)
        failure = exc
        _fail(batch, lambda: unavailable(failure))
    except asyncio.CancelledError:
        for _, waiter, _ in batch:
            waiter.cancel()
        raise
    except Exception as exc:  # a bug, not an outage: let each request see it
        bug = exc
        _fail(batch, lambda: bug)
    return None


def _fail(batch: list[_Entry], error: Callable[[], BaseException]) -> None:
    for _, waiter, _ in batch:
        if not waiter.done():
            waiter.set_exception(error())


async def exchange(pool: ConnectionPool, commands: Sequence[Command]) -> Replies:
    """Send ``commands`` as one pipeline on a pooled connection and read every reply,
    under the connection's timeout and retry policy."""
    connection = await _acquire(pool)
    try:
        replies: Replies = await connection.retry.call_with_retry(
            lambda: _send_and_read(connection, commands),
            lambda error: connection.disconnect(),
        )
    finally:
        await pool.release(connection)
    return replies


def packed(connection: AbstractConnection, commands: Sequence[Command]) -> list[bytes]:
    """``commands`` in the wire format, by hiredis's packer when it is installed (the
    ``fast`` extra), else by redis-py's. redis-py wraps that same C packer in Python work
    per argument (an encoder call, type checks) that cost more than the packing itself; the
    store's commands hold only text, bytes and numbers, which hiredis packs as redis-py
    does, byte for byte, and anything else is refused by both."""
    if _pack is None:
        return connection.pack_commands(commands)
    return [b"".join(map(_pack, commands))]


async def _send_and_read(connection: AbstractConnection, commands: Sequence[Command]) -> Replies:
    """Every reply within one ``socket_timeout`` (redis-py would start a timer per reply,
    which cost more than the read itself); a time-out drops the connection, as redis-py's,
    and raises its ``TimeoutError`` (only its class is ever logged: no message).

    Replies the socket already delivered (usually all but the first: one read takes in
    the whole batch) are taken from hiredis's reader directly (:func:`_buffered`); the
    others through ``read_response``, which reads the socket."""
    await connection.send_packed_command(packed(connection, commands))
    gets = _buffered(connection)
    replies: Replies = []
    try:
        async with asyncio.timeout(connection.socket_timeout):
            for _ in commands:
                try:
                    reply = _NOT_ENOUGH if gets is None else _buffered_reply(gets)
                except BaseException:  # as read_response: a broken stream is not reused
                    await connection.disconnect(nowait=True)
                    raise
                if reply is _NOT_ENOUGH:
                    try:
                        reply = await connection.read_response(timeout=math.inf)
                    except ResponseError as exc:  # an error reply: the connection is in step
                        reply = exc
                replies.append(reply)
    except TimeoutError:
        await connection.disconnect(nowait=True)
        raise RedisTimeout from None
    return replies


def _buffered(connection: AbstractConnection) -> Callable[[], Any] | None:
    """The ``gets`` of the hiredis reader ``connection`` parses with (RESP2, as the
    gateway's connections speak), or None when it parses otherwise, or when its class
    reads replies its own way (a subclass that overrides ``read_response``: tracing,
    fault injection), which is then asked for every reply. ``read_response`` wraps
    ``gets`` in three coroutines, a timeout context and an error-message string built
    per reply: several µs each, for a reply already in memory."""
    parser = getattr(connection, "_parser", None)
    if (_HiredisParser is None or not isinstance(parser, _HiredisParser)
            or type(connection).read_response is not AbstractConnection.read_response):
        return None
    reader = getattr(parser, "_reader", None)
    return None if reader is None else cast(Callable[[], Any], reader.gets)


def _buffered_reply(gets: Callable[[], Any]) -> Any:
    """The next reply if the reader holds it whole, else ``_NOT_ENOUGH``; judged as
    ``read_response`` judges it: an error reply is returned in its place, a connection
    error (``LOADING``) or a malformed stream is raised (the caller drops the connection)."""
    reply = gets()
    if isinstance(reply, RedisConnectionError):
        raise reply
    if isinstance(reply, list) and reply and isinstance(reply[0], RedisConnectionError):
        raise reply[0]
    return reply


def _acquire(pool: ConnectionPool) -> Any:
    """``pool.get_connection()``; redis-py before 5.3 wants a command name (ignored)."""
    try:
        return pool.get_connection()  # type: ignore[no-untyped-call]
    except TypeError:  # pragma: no cover - older redis-py only
        return pool.get_connection("PIPELINE")  # type: ignore[no-untyped-call]
