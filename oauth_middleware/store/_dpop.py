"""DPoP bookkeeping (RFC 9449 §11.1, §8): proofs seen, and the server's rotating nonce.

A proof's ``jti`` is remembered by one ``SET NX PX``: of N requests replaying one proof,
concurrently or not, exactly one finds it new. The key expires when the proof would
be refused for its age anyway. Nonces are random per time window; the first worker
to need a window's nonce makes it (``SET NX``: one command decides which value stands,
never overwritten; the ``GET`` after it in the same round trip reads that value), and
every worker accepts the current window's and the previous one's. Since a window's nonce,
once made, never changes, each store remembers the nonces it read for the current window
and asks Redis again only in the next one, or when told that a proof's nonce is not the
one remembered (another worker may have made the previous window's late, or Redis may
have lost its keys): a proof with the current nonce costs no round trip for it.
"""

from __future__ import annotations

from oauth_middleware.security import digest, new_secret
from oauth_middleware.store._context import Context, ttl_ms

#: Windows whose nonces one store remembers at most (a period or two in use at a time).
REMEMBERED_WINDOWS = 8


class DPoPRecords:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        #: (period, window) -> the nonces read in that window (current, previous).
        self._read: dict[tuple[int, int], tuple[str, str | None]] = {}

    async def first_use(self, jkt: str, jti: str, lifetime: float) -> bool:
        """True when no proof of key ``jkt`` used ``jti`` in the last ``lifetime`` seconds;
        the proof is remembered either way."""
        key = self._ctx.keys.dpop_jti(digest(f"{jkt} {jti}"))
        reply = await self._ctx.gateway.one(("SET", key, "1", "NX", "PX", ttl_ms(lifetime)))
        return reply is not None

    async def nonces(self, period: int, *, fresh: bool = False) -> tuple[str, str | None]:
        """The current window's nonce (made here if no worker made it yet) and the
        previous window's, if any: both are accepted (a nonce sent just before the
        window turned is still good). Remembered for the window; ``fresh`` reads Redis."""
        window = int(self._ctx.clock()) // period
        read = None if fresh else self._read.get((period, window))
        if read is not None:
            return read
        mine = new_secret(16)
        keys = self._ctx.keys
        _, current, previous = await self._ctx.gateway.run([
            ("SET", keys.dpop_nonce(window), mine, "NX", "PX", ttl_ms(2 * period)),
            ("GET", keys.dpop_nonce(window)),
            ("GET", keys.dpop_nonce(window - 1)),
        ])
        read = (_text(current) or mine, _text(previous))
        if len(self._read) >= REMEMBERED_WINDOWS:
            self._read.clear()
        self._read[(period, window)] = read
        return read


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
