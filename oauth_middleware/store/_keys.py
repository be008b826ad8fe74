"""Signing key records (RFC 7517): sealed private keys, the current kid per algorithm, and
when each rotated-out key stops being published.

The store never sees a private key in the clear: a record's ``sealed`` member is what
the key ring (:mod:`oauth_middleware.keyring`) encrypted. What this repository decides,
each in one script, is the race between workers: the first key of an algorithm (two
workers starting together end with one), a rotation (the old key gets its end of
publication as the new one becomes current), a retirement (never the current key).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, cast

from oauth_middleware.store._codec import RecordError, dump, load
from oauth_middleware.store._context import Context
from oauth_middleware.store._gateway import Script, evalsha, pairs

#: Key records kept at most (current and still published): a rotation past it is refused,
#: so no loop of rotations grows the store or the published key set without bound.
MAX_SIGNING_KEYS = 16

#: KEYS: keys, current; ARGV: alg, kid, record. The kid that is current for ``alg`` now:
#: the one already there, or this one (also ``kid`` when this kid exists as another key).
FIRST = Script("""
local current = redis.call('HGET', KEYS[2], ARGV[1])
if current then
  return {1, current}
end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  return {0, ARGV[2]}
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1, ARGV[2]}
""")

#: KEYS: keys, current, retire; ARGV: alg, kid, record, retire_after, now, cap.
#: Drops keys whose publication ended, then makes ``kid`` current for ``alg``; the key it
#: replaces is published until ``retire_after``. Returns {status, replaced kid or ''}:
#: 1 done, 0 the kid exists, -1 the cap is reached.
ROTATE = Script("""
local retire = redis.call('HGETALL', KEYS[3])
for i = 1, #retire, 2 do
  if tonumber(retire[i + 1]) <= tonumber(ARGV[5]) then
    redis.call('HDEL', KEYS[1], retire[i])
    redis.call('HDEL', KEYS[3], retire[i])
  end
end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then
  return {0, ''}
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[6]) then
  return {-1, ''}
end
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then
  redis.call('HSET', KEYS[3], old, ARGV[4])
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1, old or ''}
""")

#: KEYS: keys, current, retire; ARGV: kid. 1 dropped, 0 no such key, -1 it is current.
RETIRE = Script("""
for _, kid in ipairs(redis.call('HVALS', KEYS[2])) do
  if kid == ARGV[1] then
    return -1
  end
end
redis.call('HDEL', KEYS[3], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
""")


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedKey:
    """A signing key as stored: written once, never changed."""

    kid: str
    alg: str
    created_at: float
    #: The private key, encrypted by the key ring (bound to ``kid`` and ``alg``).
    sealed: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class KeyRecords:
    """Everything about the signing keys, read in one round trip."""

    #: Every readable record, by kid (a record that is no record is left out).
    keys: dict[str, SealedKey]
    #: alg -> the kid it signs with now.
    current: dict[str, str]
    #: kid -> when its publication ends (seconds since the epoch), for rotated-out keys.
    retire: dict[str, float]
    #: Kids whose record could not be read (altered in Redis): never used, always reported.
    unreadable: tuple[str, ...] = ()

    def published(self, now: float) -> list[SealedKey]:
        """Current keys, then rotated-out ones still within their publication, newest first."""
        kids = set(self.current.values()) | {k for k, end in self.retire.items() if end > now}
        chosen = [self.keys[k] for k in kids if k in self.keys]
        return sorted(chosen, key=lambda r: (r.kid not in self.current.values(), -r.created_at))


Rotation = tuple[Literal[1, 0, -1], str]


class SigningKeyRecords:
    """The repository of signing key records (``keys.Keys.signing_*``)."""

    def __init__(self, ctx: Context) -> None:
        self._gateway = ctx.gateway
        k = ctx.keys
        self._names = (k.signing_keys, k.signing_current, k.signing_retire)

    async def read(self) -> KeyRecords:
        """Every record, the current kids and the publication ends, in one round trip."""
        raw_keys, raw_current, raw_retire = await self._gateway.run(
            [("HGETALL", name) for name in self._names])
        keys: dict[str, SealedKey] = {}
        unreadable: list[str] = []
        for kid, raw in pairs(raw_keys).items():
            try:
                record = load(SealedKey, raw)
            except RecordError:
                unreadable.append(kid)
                continue
            if record.kid == kid:
                keys[kid] = record
            else:
                unreadable.append(kid)
        retire: dict[str, float] = {}
        for kid, end in pairs(raw_retire).items():
            try:
                retire[kid] = float(end)
            except ValueError:
                unreadable.append(kid)
        return KeyRecords(keys, {a: k.decode() for a, k in pairs(raw_current).items()},
                          retire, tuple(sorted(unreadable)))

    async def add_first(self, record: SealedKey) -> tuple[bool, str]:
        """Make ``record`` current for its alg unless one is: (False, kid) when its kid
        exists already, else (True, the kid now current: this one or the winner's)."""
        status, kid = await self._gateway.one(evalsha(
            FIRST, self._names[:2], [record.alg, record.kid, dump(record)]), FIRST, durable=True)
        return bool(status), kid.decode() if isinstance(kid, bytes) else str(kid)

    async def rotate(self, record: SealedKey, *, retire_after: float, now: float,
                     cap: int = MAX_SIGNING_KEYS) -> Rotation:
        """Make ``record`` current; (1, replaced kid or ''), (0, '') kid taken, (-1, '') full."""
        args = [record.alg, record.kid, dump(record), repr(retire_after), repr(now), cap]
        status, old = await self._gateway.one(evalsha(ROTATE, self._names, args), ROTATE,
                                              durable=True)
        replaced = old.decode() if isinstance(old, bytes) else str(old)
        return cast(Literal[1, 0, -1], int(status)), replaced

    async def retire(self, kid: str) -> int:
        """Drop ``kid`` now: 1 dropped, 0 unknown, -1 refused (it is current)."""
        return int(await self._gateway.one(evalsha(RETIRE, self._names, [kid]), RETIRE,
                                           durable=True))
