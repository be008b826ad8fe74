"""What the gateway writes to Redis (store/_gateway/pipeline.py ``packed``).

hiredis's packer, when installed, packs a pipeline's commands in C; without it redis-py's
packs them. Both must put the same bytes on the wire for every kind of argument the store
sends, and the store must work either way.
"""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio.connection import Connection

from oauth_middleware.store import NewTokens, TokenStore
from oauth_middleware.store._gateway import pipeline

#: The kinds of argument the store's commands hold: names, keys with hash tags, JSON
#: records with text outside ASCII, raw bytes, whole numbers up to "never" and floats.
COMMANDS = [
    ("EVALSHA", "a" * 40, 2, "om:members:{g}", "om:at:{g}:" + "f" * 64,
     '{"subject": "zoë", "scopes": ["read"]}', 3_600_000, 2**52, -1),
    ("ZADD", "om:idx:user:{" + "e" * 64 + "}", "1733550000123.456", "grant"),
    ("SET", b"om:raw", b"\x00\xff\r\n", "PX", 60_000),
    ("ZREMRANGEBYSCORE", "om:x", "-inf", 1.5, 1e23, 0.1),
    ("PING",),
]


def test_hiredis_packs_every_kind_of_argument_as_redis_py_does() -> None:
    assert pipeline._pack is not None  # the test group installs hiredis
    connection = Connection()
    assert b"".join(pipeline.packed(connection, COMMANDS)) == b"".join(
        connection.pack_commands(COMMANDS))


@pytest.mark.parametrize("argument", [None, True, object()])
def test_an_argument_redis_cannot_hold_is_refused_by_either_packer(argument: object) -> None:
    command: Any = [("SET", "om:k", argument)]
    with pytest.raises((TypeError, ValueError)):
        pipeline.packed(Connection(), command)
    with pytest.raises(Exception, match="Invalid input"):
        Connection().pack_commands(command)


@pytest.mark.not_on_cluster  # one round trip on one node is enough to show the fallback
async def test_without_hiredis_the_store_issues_and_resolves_through_redis_pys_packer(
    store: TokenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "_pack", None)
    issued = await store.issue(NewTokens(client_id="web", subject="alice",
                                         scopes=frozenset({"read"})))
    record = await store.resolve(issued.access_token)
    assert record is not None and record.subject == "alice"
    assert await store.revoke_grant(issued.token.grant_id) == 1
    assert await store.resolve(issued.access_token) is None
