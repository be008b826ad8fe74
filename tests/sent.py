"""Every command the store sends to Redis, with its arguments, for tests that count them.

The gateway's pipelines pack their commands in one call (``pipeline.packed``: hiredis's
packer, or redis-py's without it); other calls (a ``SCAN`` page, a script load) go
through redis-py's ``pack_command``. Both are watched, and each command is counted once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from redis.asyncio.connection import AbstractConnection

from oauth_middleware.store._gateway import pipeline


@contextmanager
def commands_sent() -> Iterator[list[tuple[Any, ...]]]:
    """Every command sent to Redis meanwhile, in order."""
    sent: list[tuple[Any, ...]] = []
    packed, pack_command = pipeline.packed, AbstractConnection.pack_command
    inside = [False]

    def counted_packed(connection: AbstractConnection, commands: Sequence[Any]) -> Any:
        sent.extend(tuple(command) for command in commands)
        inside[0] = True  # redis-py's packer, without hiredis: counted here already
        try:
            return packed(connection, commands)
        finally:
            inside[0] = False

    def counted_pack_command(self: AbstractConnection, *args: Any) -> Any:
        if not inside[0]:
            sent.append(args)
        return pack_command(self, *args)

    pipeline.packed = counted_packed
    AbstractConnection.pack_command = counted_pack_command  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        pipeline.packed = packed
        AbstractConnection.pack_command = pack_command  # type: ignore[method-assign]
