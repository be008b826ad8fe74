"""Reads through the opt-in local cache: what it holds is answered locally, the rest in one trip.

A read is a list of steps: a Redis command, and the key its reply may be kept
under in :class:`~oauth_middleware.store._gateway.cache.TokenCache` (None: never kept,
e.g. a code that is about to be redeemed). Steps whose key the cache holds are
answered from it; the others go to Redis together in one round trip, and their
replies are kept only if Redis invalidated nothing about them meanwhile
(:meth:`TokenCache.begin` / :meth:`TokenCache.keep`). Without the cache every
step is read from Redis.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from oauth_middleware.store._gateway.cache import MISS, TokenCache
from oauth_middleware.store._gateway.script import Command

#: Turns a raw reply into what is used and kept (None: as it is).
Shape = Callable[[Any], Any] | None
#: A cache key (or None), the command that reads it, and the reply's shape.
Step = tuple[str | None, Command, Shape]


def pairs(reply: Any) -> dict[str, bytes]:
    """An ``HGETALL`` reply as a dict of text fields (RESP2 gives a flat list, RESP3 a map)."""
    items = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2],
                                                               strict=True)
    return {(k.decode() if isinstance(k, bytes) else str(k)): v for k, v in items}


async def read_through(cache: TokenCache | None, steps: Sequence[Step],
                       run: Callable[[list[Command]], Awaitable[list[Any]]]) -> list[Any]:
    """The answer to every step, in order; what the cache lacks costs one round trip
    (``run``)."""
    kept = cache.records if cache is not None and cache.live() else {}
    values = [MISS if key is None else kept.get(key, MISS) for key, _, _ in steps]
    todo = [i for i, value in enumerate(values) if value is MISS]
    if cache is not None:
        missed = sum(1 for i in todo if steps[i][0] is not None)
        cache.misses += missed
        cache.hits += sum(1 for key, _, _ in steps if key is not None) - missed
    if not todo:
        return values
    keys = [steps[i][0] for i in todo]
    epochs = [None if cache is None or key is None else cache.begin(key) for key in keys]
    replies: list[Any] = []
    try:
        replies = await run([steps[i][1] for i in todo])
        for i, reply in zip(todo, replies, strict=True):
            shape = steps[i][2]
            values[i] = reply if shape is None else shape(reply)
    finally:
        if cache is not None:
            for i, key, epoch in zip(todo, keys, epochs, strict=True):
                if key is not None and epoch is not None:
                    cache.keep(key, epoch, values[i])
    return values
