"""Pages of a listing walked with Redis SCAN-family cursors (SSCAN, SCAN, ZSCAN).

A cursor page may be short or even empty before the end (a search filters it,
expired tokens drop out), so a screen is filled from several cursor steps, up
to a bound, and ends with the cursor to continue from (0: nothing more).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

from starlette.requests import Request

from oauth_middleware.admin.refusals import Refusal

T = TypeVar("T")

#: Cursor steps one screen may take before it shows what it has.
MAX_STEPS = 20


async def fill(
    fetch: Callable[[int], Awaitable[tuple[int, list[T]]]],
    cursor: int,
    want: int,
    key: Callable[[T], Hashable],
) -> tuple[int, list[T]]:
    """At least ``want`` items (unless the walk ends first), de-duplicated by ``key``."""
    found: dict[Hashable, T] = {}
    for _ in range(MAX_STEPS):
        cursor, items = await fetch(cursor)
        found.update((key(item), item) for item in items)
        if cursor == 0 or len(found) >= want:
            break
    return cursor, list(found.values())


#: Largest cursor passed on: Redis refuses one past 2**64 - 1 and the embedded store
#: one past 2**63 - 1 (its SCAN would fail as an unreachable store); no real table hands
#: out a cursor that large.
MAX_CURSOR = 2**63 - 1


def cursor_param(request: Request, name: str = "cursor") -> int:
    """A cursor from the query string: a non-negative integer Redis takes, 0 when absent.

    ASCII digits only (``str.isdigit`` also accepts ``²``, which ``int`` refuses).
    """
    value = request.query_params.get(name, "0") or "0"
    if not (value.isascii() and value.isdigit()) or len(value) > 20 or int(value) > MAX_CURSOR:
        raise Refusal("The page cursor is not valid.")
    return int(value)
