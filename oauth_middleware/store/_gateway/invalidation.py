"""The local cache's invalidation connection, read as bytes arrive, and the database generation.

redis-py opens and authenticates the connection; :meth:`Invalidations.take_over`
then puts this protocol on its transport. Every message is parsed and applied
inside ``data_received``, the moment the event loop reads it: no invalidation
ever waits in a reader's buffer for a task to be scheduled. What the loop has
not read yet is still in the kernel's socket buffer, and :meth:`pending` sees it
there with one non-blocking ``poll`` (no round trip, nothing awaited). The cache
serves no hit while anything is pending (see :mod:`.cache`).

Only the RESP2 replies this connection gets are understood: simple strings,
errors, integers, bulk strings and (nested) arrays.
"""

from __future__ import annotations

import asyncio
import secrets
import select
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

#: Called with the keys of one invalidation message (None: everything, after a flush).
OnInvalidate = Callable[[list[bytes] | None], None]


class _Incomplete(Exception):
    """The buffer ends inside a reply: wait for more bytes."""


class Invalidations(asyncio.Protocol):
    """Applies invalidation messages as they are read; hands other replies to :meth:`ask`."""

    def __init__(self, transport: asyncio.Transport, on_invalidate: OnInvalidate,
                 channel: bytes) -> None:
        self._transport = transport
        self._on_invalidate = on_invalidate
        self._channel = channel
        self._buffer = bytearray()
        self._replies: deque[asyncio.Future[Any]] = deque()
        #: Resolved (with the reason) when the connection is gone or spoke nonsense.
        self.lost: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()
        self._ready = _poller(transport)

    @classmethod
    def take_over(cls, connection: AbstractConnection, on_invalidate: OnInvalidate,
                  channel: str) -> Invalidations:
        """Read ``connection`` (connected, nothing left unread) with this protocol from now on.

        redis-py keeps its stream writer private; it is checked here, once.
        """
        writer = getattr(connection, "_writer", None)
        if not isinstance(writer, asyncio.StreamWriter):
            raise RedisConnectionError("the invalidation connection is not open")
        # uvloop's transports quack like asyncio.Transport without inheriting from it.
        transport = cast(asyncio.Transport, writer.transport)
        if not callable(getattr(transport, "set_protocol", None)):
            raise RedisConnectionError("the invalidation connection has no stream transport")
        protocol = cls(transport, on_invalidate, channel.encode())
        transport.set_protocol(protocol)
        return protocol

    def pending(self) -> bool:
        """Whether anything has arrived that is not applied yet (or the connection is gone)."""
        return bool(self._buffer or self._ready(0)) or self.lost.done()

    async def ask(self, *args: str | bytes | int, timeout: float) -> Any:
        """Send one command; its reply within ``timeout`` seconds (an error reply raises)."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies.append(answer)
        self._transport.write(_pack(args))
        done, _ = await asyncio.wait({answer, self.lost}, timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if answer in done:
            reply = answer.result()
            if isinstance(reply, ResponseError):
                raise reply
            return reply
        if self.lost in done:
            raise self.lost.result()
        raise TimeoutError("no answer on the invalidation connection")

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        pos = 0
        try:
            while pos < len(buffer):
                message, pos = _parse(buffer, pos)
                self._dispatch(message)
        except _Incomplete:
            pass
        except ValueError as exc:
            self._lose(exc)
            self._transport.abort()
        del buffer[:pos]

    def _dispatch(self, message: Any) -> None:
        if (isinstance(message, list) and len(message) == 3 and message[0] == b"message"
                and message[1] == self._channel):
            self._on_invalidate(message[2])
        elif self._replies:
            reply = self._replies.popleft()
            if not reply.done():
                reply.set_result(message)
        else:
            raise ValueError("unexpected reply on the invalidation connection")

    def connection_lost(self, exc: Exception | None) -> None:
        self._lose(exc or RedisConnectionError("the invalidation connection closed"))

    def eof_received(self) -> bool:
        return False

    def _lose(self, exc: BaseException) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def database_generation(client: aioredis.Redis, key: str) -> bytes | None:
    """A random value naming what the store's database holds, set once, in one transaction.

    Redis sends no invalidation for ``SWAPDB`` (nor for a database restored in
    place), but the swapped-in database does not hold this value: the cache
    compares it at each heartbeat and flushes when it changed.
    """
    async with client.pipeline(transaction=True) as pipe:
        pipe.set(key, secrets.token_hex(16), nx=True)
        pipe.get(key)
        _, value = await pipe.execute()
    return value if isinstance(value, bytes) else None


def _poller(transport: asyncio.Transport) -> Callable[[int], list[tuple[int, int]]]:
    """``poll(0)`` of ``transport``'s socket: non-empty when the kernel holds bytes for it
    (or the connection broke); never blocks."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        raise RedisConnectionError("the invalidation connection has no socket to poll")
    poll = select.poll()
    poll.register(sock.fileno(), select.POLLIN | select.POLLPRI)
    return poll.poll


def _pack(args: tuple[str | bytes | int, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(parts)


def _parse(buffer: bytearray, pos: int) -> tuple[Any, int]:
    """One RESP2 reply starting at ``pos``, and where the next one starts."""
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line, pos = buffer[pos], bytes(buffer[pos + 1:end]), end + 2
    if kind == 0x2B:  # +
        return line, pos
    if kind == 0x2D:  # -
        return ResponseError(line.decode("utf-8", "replace")), pos
    if kind == 0x3A:  # :
        return int(line), pos
    if kind == 0x24:  # $
        size = int(line)
        if size < 0:
            return None, pos
        if len(buffer) < pos + size + 2:
            raise _Incomplete
        return bytes(buffer[pos:pos + size]), pos + size + 2
    if kind == 0x2A:  # *
        items: list[Any] = []
        for _ in range(int(line)):
            item, pos = _parse(buffer, pos)
            items.append(item)
        return items, pos
    raise ValueError("not a RESP2 reply on the invalidation connection")
