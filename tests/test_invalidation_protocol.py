"""The invalidation connection's protocol (store/_gateway/invalidation.py) and the connection
helpers beside it (connection.py), byte for byte, in process.

The cache may serve a hit only while this protocol has applied everything Redis sent:
its RESP2 reading, its answers to the cache's own commands, and what it does with a
reply nobody asked for or bytes that are no reply at all (the connection is dropped)
are pinned here. tests/test_cache.py runs it against a real redis-server.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from oauth_middleware.store import StoreRefused, StoreUnavailable
from oauth_middleware.store._gateway.connection import (
    EMBEDDED_MISSING,
    GUARD,
    dedicated,
    embedded,
    unavailable,
)
from oauth_middleware.store._gateway.invalidation import (
    Invalidations,
    _pack,
    _parse,
    database_generation,
)

CHANNEL = b"__redis__:invalidate"


class _Transport:
    """A real socket to poll, what was written, and whether it was aborted."""

    def __init__(self, sock: socket.socket | None) -> None:
        self.sock, self.written, self.aborted = sock, b"", False

    def get_extra_info(self, name: str) -> Any:
        return self.sock if name == "socket" else None

    def write(self, data: bytes) -> None:
        self.written += data

    def abort(self) -> None:
        self.aborted = True

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol


@pytest.fixture
async def link() -> Any:
    ours, theirs = socket.socketpair()
    applied: list[list[bytes] | None] = []
    made = Invalidations(_Transport(ours), applied.append, CHANNEL)  # type: ignore[arg-type]
    made.applied = applied  # type: ignore[attr-defined]
    yield made
    ours.close()
    theirs.close()


@pytest.mark.parametrize(("data", "value"), [
    (b"+OK\r\n", b"OK"), (b":-42\r\n", -42), (b"$3\r\nabc\r\n", b"abc"), (b"$0\r\n\r\n", b""),
    (b"$-1\r\n", None), (b"*0\r\n", []), (b"*2\r\n$1\r\na\r\n*1\r\n:7\r\n", [b"a", [7]]),
    (b"$4\r\na\r\nb\r\n", b"a\r\nb"),
])
def test_each_resp2_reply_is_read_to_its_end(data: bytes, value: Any) -> None:
    buffer = bytearray(b"+x\r\n" + data + b"+next\r\n")
    first, pos = _parse(buffer, 0)
    assert (first, pos) == (b"x", 4)
    parsed, end = _parse(buffer, pos)
    assert parsed == value and end == 4 + len(data)
    assert _parse(buffer, end) == (b"next", len(buffer))


def test_an_error_reply_is_a_response_error_with_its_words() -> None:
    error, end = _parse(bytearray(b"-NOPERM no \xff\r\n"), 0)
    assert isinstance(error, ResponseError) and str(error) == "NOPERM no \ufffd" and end == 14


async def test_a_key_that_is_not_utf_8_is_still_invalidated_and_keeps_the_connection(
    link: Any,
) -> None:
    link.data_received(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
                       b"*1\r\n$7\r\nom:at:\xff\r\n")
    assert link.applied == [[b"om:at:\xff"]] and not link.lost.done()


def test_commands_are_packed_as_resp_arrays_of_bulk_strings() -> None:
    assert _pack(("CLIENT", b"ID", 42)) == b"*3\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n$2\r\n42\r\n"
    assert _pack(("PING",)) == b"*1\r\n$4\r\nPING\r\n"


async def test_a_message_split_anywhere_is_applied_once_whole(link: Any) -> None:
    message = (b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$3\r\nk:1\r\n"
               b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n")
    for cut in (1, 9, 30, 52, 55, len(message) - 1):
        applied: list[Any] = []
        link._on_invalidate = applied.append
        link.data_received(message[:cut])
        assert link.pending()
        link.data_received(message[cut:])
        assert applied == [[b"k:1"], None] and not link.pending(), cut
    assert not link.lost.done()


async def test_replies_go_to_the_asker_in_order_and_an_error_reply_raises(link: Any) -> None:
    first = asyncio.ensure_future(link.ask("CLIENT", "ID", timeout=5))
    second = asyncio.ensure_future(link.ask("SUBSCRIBE", "x", timeout=5))
    third = asyncio.ensure_future(link.ask("PING", timeout=5))
    await asyncio.sleep(0)  # all three are written and waiting (ordering, not timing)
    assert link._transport.written == (_pack(("CLIENT", "ID")) + _pack(("SUBSCRIBE", "x"))
                                       + _pack(("PING",)))
    link.data_received(b":42\r\n*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n"
                       b"*1\r\n$1\r\nk\r\n*2\r\n$7\r\nmessage\r\n$1\r\nx\r\n-ERR no\r\n")
    assert await first == 42
    assert await second == [b"message", b"x"]  # another channel's message is a reply
    with pytest.raises(ResponseError, match=r"^ERR no$"):
        await third
    assert link.applied == [[b"k"]]


@pytest.mark.parametrize("nonsense", [b"?what\r\n", b"+PONG\r\n", b":x\r\n", b"\r\n"])
async def test_bytes_nobody_asked_for_drop_the_connection(link: Any, nonsense: bytes) -> None:
    link.data_received(nonsense)
    assert link.lost.done() and isinstance(link.lost.result(), ValueError)
    assert link._transport.aborted and link.pending()
    with pytest.raises(ValueError):  # noqa: PT011 - whichever ValueError the bytes caused
        await link.ask("PING", timeout=5)


async def test_a_closed_connection_fails_every_wait_and_an_unanswered_one_times_out(
    link: Any,
) -> None:
    with pytest.raises(TimeoutError, match=r"^no answer on the invalidation connection$"):
        await link.ask("PING", timeout=0.01)
    assert link.eof_received() is False
    link.connection_lost(None)
    reason = link.lost.result()
    assert isinstance(reason, RedisConnectionError)
    assert str(reason) == "the invalidation connection closed"
    link.connection_lost(OSError("later"))  # the first reason stays
    assert link.lost.result() is reason and link.pending()


async def test_only_an_open_stream_connection_can_be_taken_over() -> None:
    class NotOpen:
        _writer = None

    for closed in (NotOpen(), object()):  # never opened, or not a redis-py connection at all
        with pytest.raises(RedisConnectionError,
                           match=r"^the invalidation connection is not open$"):
            Invalidations.take_over(closed, print, "c")  # type: ignore[arg-type]
    ours, theirs = socket.socketpair()
    try:
        _, writer = await asyncio.open_connection(sock=ours)
        transport = writer.transport

        class NoSwap:
            _writer = writer

        writer._transport = _Transport(None)  # type: ignore[attr-defined]
        with pytest.raises(RedisConnectionError, match=r"^the invalidation connection has no "
                                                       "socket to poll$"):
            Invalidations.take_over(NoSwap(), print, "c")  # type: ignore[arg-type]
        writer._transport = object()  # type: ignore[attr-defined]
        with pytest.raises(RedisConnectionError, match=r"^the invalidation connection has no "
                                                       "stream transport$"):
            Invalidations.take_over(NoSwap(), print, "c")  # type: ignore[arg-type]
        writer._transport = transport  # type: ignore[attr-defined]
        taken = Invalidations.take_over(NoSwap(), print, "chan")  # type: ignore[arg-type]
        assert taken._channel == b"chan" and not taken.pending()
        theirs.send(b"+x")
        await asyncio.sleep(0)  # the loop has not read it: the kernel holds it
        assert taken.pending()
        transport.close()
    finally:
        theirs.close()


async def test_the_database_generation_is_set_once_and_read_back() -> None:
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    first = await database_generation(client, "om:generation")
    assert first is not None and len(first) == 32 and int(first, 16) >= 0
    assert await database_generation(client, "om:generation") == first
    assert await client.get("om:generation") == first
    await client.flushdb()
    assert await database_generation(client, "om:generation") not in (None, first)
    await client.set("om:other", 1)
    decoded = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True)
    assert await database_generation(decoded, "g") is None  # a text reply is no generation


def test_a_failure_is_refused_when_redis_answered_and_unavailable_when_not() -> None:
    refused = unavailable(ResponseError("READONLY You can't write against a read only replica."))
    assert type(refused) is StoreRefused
    assert refused.reply == "READONLY You can't write against a read only replica."
    for other in (RedisConnectionError("x"), OSError("x"), None):
        assert type(unavailable(other)) is StoreUnavailable
    assert StoreRefused().reply == "" and str(StoreRefused("x")) == "the token store is unavailable"


def test_the_guard_maps_store_failures_and_lets_bugs_through(caplog: pytest.LogCaptureFixture
                                                             ) -> None:
    with pytest.raises(StoreUnavailable) as caught, GUARD:
        raise RedisConnectionError("10.0.0.1:6379 refused")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(KeyError), GUARD:
        raise KeyError("a bug")
    with GUARD:
        pass
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "token store unavailable: ConnectionError")]


def test_without_fakeredis_and_lupa_the_embedded_store_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for missing in ("lupa", "fakeredis"):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, missing, None)
            with pytest.raises(ImportError) as caught:
                embedded()
        assert str(caught.value) == EMBEDDED_MISSING
        assert isinstance(caught.value.__cause__, ImportError)
    assert isinstance(embedded(), fakeredis.FakeAsyncRedis)


async def test_each_embedded_store_has_its_own_data() -> None:
    first, second = embedded(), embedded()
    await first.set("om:at:k", b"first's")
    assert await second.get("om:at:k") is None
    assert await first.get("om:at:k") == b"first's"


def test_the_dedicated_connection_speaks_resp2_to_the_same_server_without_timeouts() -> None:
    client = aioredis.Redis(host="h", port=1, db=3, username="u", password="p", client_name="n",
                            socket_timeout=0.5, socket_connect_timeout=0.4, protocol=3)
    connection: Any = dedicated(client)
    assert (connection.host, connection.port, connection.db, connection.username,
            connection.password, connection.client_name) == ("h", 1, 3, "u", "p", "n")
    assert (connection.protocol, connection.socket_timeout,
            connection.socket_connect_timeout) == (2, None, None)
    assert connection._maint_notifications_pool_handler is None
    assert connection not in client.connection_pool._available_connections
