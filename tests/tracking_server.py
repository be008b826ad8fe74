"""The server end of the local cache's invalidation connection, in process (no redis-server).

The cache (store/_gateway/cache.py) opens a connection, turns client tracking on,
subscribes to ``__redis__:invalidate`` and sends a PING per heartbeat. This stand-in
answers each of those as Redis does in RESP2, over a socket pair, and lets a test push
invalidations, go silent, speak nonsense or hang up, so every rule of the cache can be
driven without timing a real server.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

CHANNEL = b"__redis__:invalidate"


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def invalidation(keys: list[bytes] | None) -> bytes:
    """The message Redis sends for ``keys`` (None: a flush, every key)."""
    body = b"$-1\r\n" if keys is None else b"*%d\r\n" % len(keys) + b"".join(map(_bulk, keys))
    return b"*3\r\n" + _bulk(b"message") + _bulk(CHANNEL) + body


class TrackingServer:
    """Answers CLIENT ID, CLIENT TRACKING, SUBSCRIBE and PING; records every command."""

    def __init__(self) -> None:
        self.commands: list[list[bytes]] = []
        self.answering = True
        self.connections = 0
        self.generation: bytes | None = b"generation-1"
        self.generation_error: BaseException | None = None
        self._held = 0
        #: Answer nothing while the cache sets the connection up (CLIENT, SUBSCRIBE).
        self.mute_setup = False
        #: The generation read never answers (a frozen main connection).
        self.generation_stall = False
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def connect(self) -> FakeConnection:
        """What the cache's ``connect`` callable returns: a new, unopened connection."""
        return FakeConnection(self)

    async def database_generation(self) -> bytes | None:
        if self.generation_stall:
            await asyncio.Event().wait()
        if self.generation_error is not None:
            raise self.generation_error
        return self.generation

    def push(self, data: bytes) -> None:
        assert self._writer is not None, "no connection to push on"
        self._writer.write(data)

    def resume(self) -> None:
        """Answer again, starting with the PINGs held while silent."""
        self.answering = True
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(self._pong * self._held)
        self._held = 0

    _pong = b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"

    def hang_up(self) -> None:
        assert self._writer is not None
        self._writer.close()

    def pings(self) -> int:
        return sum(1 for command in self.commands if command == [b"PING"])

    async def _open(self, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=sock)
        self._writer, self._held = writer, 0
        self.connections += 1
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while command := await _read_command(reader):
                self.commands.append(command)
                reply = self._reply(command)
                if reply:
                    writer.write(reply)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    def _reply(self, command: list[bytes]) -> bytes:
        name = command[0].upper()
        if self.mute_setup and name != b"PING":
            return b""
        if name == b"CLIENT" and command[1].upper() == b"ID":
            return b":42\r\n"
        if name == b"CLIENT":
            return b"+OK\r\n"
        if name == b"SUBSCRIBE":
            return b"*3\r\n" + _bulk(b"subscribe") + _bulk(command[1]) + b":1\r\n"
        if name == b"PING" and self.answering:
            return self._pong
        if name == b"PING":
            self._held += 1
        return b""


async def _read_command(reader: asyncio.StreamReader) -> list[bytes]:
    header = await reader.readline()
    if not header:
        return []
    parts = []
    for _ in range(int(header[1:-2])):
        size = int((await reader.readline())[1:-2])
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts


class FakeConnection:
    """Just what the cache uses of a redis-py connection: ``connect``, ``_writer``,
    ``disconnect``."""

    def __init__(self, server: TrackingServer) -> None:
        self._server = server
        self._writer: asyncio.StreamWriter | None = None
        self.disconnected = False

    async def connect(self) -> None:
        ours, theirs = socket.socketpair()
        await self._server._open(theirs)
        _, self._writer = await asyncio.open_connection(sock=ours)

    async def disconnect(self, nowait: bool = False, **_: Any) -> None:
        self.disconnected = True
        if self._writer is not None:
            self._writer.close()
