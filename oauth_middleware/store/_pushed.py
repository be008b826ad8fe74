"""Pushed authorization requests, held for their ``request_uri`` (RFC 9126 §2.2, §4).

A record lives under the digest of the ``request_uri``'s random part, in its client's
slot, so a ``request_uri`` presented with another ``client_id`` finds nothing. The
records and their per-client index are written and taken by the consent scripts
(:mod:`._consent`), which serve any record with its index: one script stores a request
and drops the client's oldest past the cap; one takes a request once, atomically.
"""

from __future__ import annotations

from oauth_middleware.limits import MAX_PUSHED, PAR_LIFETIME, TAKEN_LIFETIME
from oauth_middleware.models import PushedAuthorization
from oauth_middleware.security import digest, new_secret
from oauth_middleware.store._codec import RecordError, dump, load
from oauth_middleware.store._consent import PUT_PENDING, TAKE_PENDING
from oauth_middleware.store._context import Context, ttl_ms
from oauth_middleware.store._gateway import Script, evalsha

#: KEYS: the pushed request, its client's index; ARGV: TTL ms to keep it at least (0: none).
#: The request while it waits (never a taken one's tombstone), its life (and its index's)
#: extended to ARGV[1] when shorter: once presented at ``auth/`` in time, it lasts while
#: the user signs in and decides.
PEEK = Script("""
local value = redis.call('GET', KEYS[1])
if not value or string.sub(value, 1, 6) == 'taken:' then
  return false
end
local ttl = tonumber(ARGV[1])
if ttl > 0 and redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
  if redis.call('PTTL', KEYS[2]) < ttl then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
end
return value
""")


class Pushed:
    """Each client's pushed authorization requests, under that client's hash tag."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._gateway = ctx.gateway
        self._keys = ctx.keys

    async def push(self, record: PushedAuthorization, *, lifetime: int = PAR_LIFETIME,
                   cap: int = MAX_PUSHED) -> str:
        """Store ``record``; returns the random reference to it (stored only as a digest)."""
        reference, client_id = new_secret(), record.client_id
        sha = digest(reference)
        names = [self._keys.pushed(client_id, sha), self._keys.pushed_index(client_id)]
        args = [dump(record), ttl_ms(lifetime), sha, cap,
                self._keys.pushed_prefix(client_id), self._ctx.now_ms()]
        await self._gateway.one(evalsha(PUT_PENDING, names, args), PUT_PENDING)
        return reference

    async def peek(self, client_id: str, reference: str, *, keep_for: int = 0
                   ) -> PushedAuthorization | None:
        """The request while it waits (a consent page may be reloaded), kept at least
        ``keep_for`` seconds more (0: left as it is); None once taken, dropped, expired, or
        pushed by another client."""
        names = [self._keys.pushed(client_id, digest(reference)),
                 self._keys.pushed_index(client_id)]
        raw = await self._gateway.one(evalsha(PEEK, names, [ttl_ms(keep_for) if keep_for
                                                            else 0]), PEEK)
        return None if raw is None else _loaded(raw)

    async def take(self, client_id: str, sha: str) -> PushedAuthorization | None:
        """Retire the request whose reference has digest ``sha``, once: of any number of
        concurrent takes exactly one gets the record (the authorization it answers)."""
        names = [self._keys.pushed(client_id, sha), self._keys.pushed_index(client_id)]
        args = [new_secret(), ttl_ms(TAKEN_LIFETIME), sha]
        raw = await self._gateway.one(evalsha(TAKE_PENDING, names, args), TAKE_PENDING)
        return None if raw is None else _loaded(raw)


def _loaded(raw: bytes | str) -> PushedAuthorization | None:
    """A corrupted record is no request (never a 500)."""
    try:
        return load(PushedAuthorization, raw)
    except RecordError:
        return None
