"""What every repository of the store shares: the gateway, the key schema and the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from oauth_middleware.store._gateway import Gateway
from oauth_middleware.store.keys import Keys

Clock = Callable[[], float]
#: ``progress(done, total)``: told how far a long operation has come.
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class Context:
    """The gateway every repository sends through, the keys it spells, the time it reads."""

    gateway: Gateway
    keys: Keys
    clock: Clock

    def now_ms(self) -> int:
        return int(self.clock() * 1000)


def ttl_ms(lifetime: float | None) -> int:
    """Script TTL argument: milliseconds, ``0`` for "never expires"."""
    return 0 if lifetime is None else max(1, int(lifetime * 1000))
