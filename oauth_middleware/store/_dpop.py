"""DPoP bookkeeping (RFC 9449 §11.1, §8): proofs seen, and the server's rotating nonce.

A proof's ``jti`` is remembered by one ``SET NX PX``: of N requests replaying one proof,
concurrently or not, exactly one finds it new. The key expires when the proof would
be refused for its age anyway. Nonces are random per time window; the first worker
to need a window's nonce makes it (``SET NX``: one command decides which value stands,
never overwritten; the ``GET`` after it in the same round trip reads that value), and
every worker accepts the current window's and the previous one's.
"""

from __future__ import annotations

from oauth_middleware.security import digest, new_secret
from oauth_middleware.store._context import Context, ttl_ms


class DPoPRecords:
    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    async def first_use(self, jkt: str, jti: str, lifetime: float) -> bool:
        """True when no proof of key ``jkt`` used ``jti`` in the last ``lifetime`` seconds;
        the proof is remembered either way."""
        key = self._ctx.keys.dpop_jti(digest(f"{jkt} {jti}"))
        reply = await self._ctx.gateway.one(("SET", key, "1", "NX", "PX", ttl_ms(lifetime)))
        return reply is not None

    async def nonces(self, period: int) -> tuple[str, str | None]:
        """The current window's nonce (made here if no worker made it yet) and the
        previous window's, if any: both are accepted (a nonce sent just before the
        window turned is still good)."""
        window = int(self._ctx.clock()) // period
        mine = new_secret(16)
        keys = self._ctx.keys
        _, current, previous = await self._ctx.gateway.run([
            ("SET", keys.dpop_nonce(window), mine, "NX", "PX", ttl_ms(2 * period)),
            ("GET", keys.dpop_nonce(window)),
            ("GET", keys.dpop_nonce(window - 1)),
        ])
        return _text(current) or mine, _text(previous)


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value
