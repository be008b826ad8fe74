"""Device authorization requests (RFC 8628 §3.2-3.5): created, decided once, polled.

A request is a hash under its device code's digest (its hash tag); its user code's
digest names it (``usercode``, a pointer read before the request, in two steps), and its
client's ``devices`` index (tagged by the client's digest) bounds how many one client
keeps. Creating one spans those three slots, so it is three single-slot steps
(:meth:`DeviceCodes.create`): an evicted request becomes a tombstone that refuses a
write still on its way, so once every create has returned a client has at most ``cap``
live requests, each with its user code, and no more user codes. Every other
check-then-act is one script on one key: the user's decision only moves a ``pending``
request (so approve and deny racing leave one answer), and a poll reads the state,
records its time and raises the interval (``slow_down``) in the same step, and takes
an approved request exactly once (``issued``): of N concurrent polls one gets tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from oauth_middleware.limits import DEVICE_CODES_PER_CLIENT, DEVICE_EXPIRED_GRACE
from oauth_middleware.security import digest, new_secret, new_user_code
from oauth_middleware.store._context import Context, ttl_ms
from oauth_middleware.store._gateway import Script, evalsha, texts

#: Record layout in the hash; ``v`` is its schema version.
SCHEMA_VERSION = "1"

#: KEYS: the client's index; ARGV: now ms, expires ms, cap, device sha. Drops the
#: client's expired entries, then indexes the new request and returns the device shas of
#: its oldest past ``cap``, for the caller to evict (:data:`EVICT`). Scores are expiries,
#: made unique upwards so that "oldest" holds within one millisecond too.
INDEX = Script("""
local now, expires, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local over = redis.call('ZCARD', KEYS[1]) - cap + 1
local evicted = {}
if over > 0 then
  evicted = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1)
end
local score, last = expires, redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] and tonumber(last[2]) >= score then score = tonumber(last[2]) + 1 end
redis.call('ZADD', KEYS[1], score, ARGV[4])
if redis.call('PTTL', KEYS[1]) < expires - now then
  redis.call('PEXPIRE', KEYS[1], math.max(1, expires - now))
end
return evicted
""")

#: KEYS: device; ARGV: record TTL ms, then field/value pairs. Writes the request unless
#: its key exists: an eviction that came first left a tombstone there, and the request
#: stays evicted (as if evicted right after it was written). 1 if written, else 0.
WRITE = Script("""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local fields = {}
for i = 2, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
""")

#: KEYS: device; ARGV: record TTL ms. Replaces the request with a tombstone (no client,
#: so every poll and decision finds nothing) that refuses a late :data:`WRITE`; returns
#: the user code's digest it held (false when it was not written yet).
EVICT = Script("""
local uc = redis.call('HGET', KEYS[1], 'uc')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'evicted')
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return uc
""")

#: KEYS: a user code; ARGV: device sha. Drops the user code if it still names that device.
UNNAME = Script("""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
""")

#: KEYS: device; ARGV: user code sha, decision (approved/denied), subject, scopes, now ms.
#: Decides a pending, unexpired request named by that user code; 1 if it did, else 0.
DECIDE = Script("""
local h = redis.call('HMGET', KEYS[1], 'uc', 'state', 'expires')
if h[1] ~= ARGV[1] or h[2] ~= 'pending' or tonumber(ARGV[5]) >= tonumber(h[3]) then
  return 0
end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'subject', ARGV[3], 'granted', ARGV[4])
return 1
""")

#: KEYS: device; ARGV: client id, now ms, slow-down step (s), client generation.
#: Returns {outcome, interval, subject, granted, audience}; polling sooner than the interval after
#: the last poll raises the interval by the step and answers ``slow_down``.
POLL = Script("""
local h = redis.call('HMGET', KEYS[1], 'client', 'state', 'expires', 'interval', 'last',
                     'subject', 'granted', 'audience', 'gen')
if not h[1] or h[1] ~= ARGV[1] or h[9] ~= ARGV[4] then return {'invalid', 0} end
local now = tonumber(ARGV[2])
if now >= tonumber(h[3]) then return {'expired', 0} end
local state, interval = h[2], tonumber(h[4])
if state == 'issued' then return {'invalid', interval} end
if state == 'denied' then return {'denied', interval} end
if state == 'approved' then
  redis.call('HSET', KEYS[1], 'state', 'issued', 'last', now)
  return {'approved', interval, h[6], h[7], h[8]}
end
if h[5] and now - tonumber(h[5]) < interval * 1000 then
  interval = interval + tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], 'interval', interval, 'last', now)
  return {'slow_down', interval}
end
redis.call('HSET', KEYS[1], 'last', now)
return {'pending', interval}
""")

Outcome = Literal["pending", "slow_down", "approved", "denied", "expired", "invalid"]


@dataclass(frozen=True, slots=True)
class DeviceRequest:
    """A device authorization request as stored (never its codes: their digests name it)."""

    device_sha: str
    client_id: str
    scopes: tuple[str, ...]
    audience: tuple[str, ...]
    expires_at: float
    state: str
    client_generation: str = ""


@dataclass(frozen=True, slots=True)
class NewDeviceCodes:
    """The codes of a new request: the device's secret and the person's short code."""

    device_code: str = field(repr=False)
    user_code: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Poll:
    """What one poll found; ``subject`` and ``scopes`` only when ``approved``."""

    outcome: Outcome
    interval: int
    subject: str = ""
    scopes: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()


def _text(value: bytes | str | None) -> str:
    return "" if value is None else value.decode() if isinstance(value, bytes) else value


class DeviceCodes:
    """Device authorization requests; see the module docstring for their atomicity."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._gateway = ctx.gateway
        self._keys = ctx.keys

    async def create(
        self, *, client_id: str, client_generation: str, scopes: tuple[str, ...],
        audience: tuple[str, ...], lifetime: int, interval: int,
        cap: int = DEVICE_CODES_PER_CLIENT,
    ) -> NewDeviceCodes:
        """Store a new request; a user code already in use is drawn again.

        Three single-slot steps (Redis Cluster): claim the user code (``SET NX``), index
        the request under its client (evicting the oldest past ``cap``), write it. A step
        that fails leaves a user code naming nothing, or an index entry of nothing, both
        expiring with the request; and no code leaves before all three are done.
        """
        k, now = self._keys, self._ctx.now_ms()
        expires, ttl = now + lifetime * 1000, ttl_ms(lifetime + DEVICE_EXPIRED_GRACE)
        while True:
            device_code, user_code = new_secret(), new_user_code()
            sha, uc = digest(device_code), digest(user_code)
            claimed = await self._gateway.one(
                ("SET", k.user_code(uc), sha, "NX", "PX", max(1, expires - now)))
            if claimed is not None:
                break
        evicted = texts(await self._gateway.one(evalsha(
            INDEX, [k.device_index(client_id)], [now, expires, cap, sha]), INDEX))
        record = {"v": SCHEMA_VERSION, "client": client_id, "gen": client_generation,
                  "scopes": " ".join(scopes), "audience": json.dumps(list(audience)),
                  "expires": expires, "interval": interval, "state": "pending", "uc": uc}
        pairs = [x for item in record.items() for x in item]
        await self._evict(evicted, ttl)
        if not await self._gateway.one(evalsha(WRITE, [k.device(sha)], [ttl, *pairs]), WRITE):
            await self._gateway.one(evalsha(UNNAME, [k.user_code(uc)], [sha]), UNNAME)
        return NewDeviceCodes(device_code, user_code)

    async def _evict(self, shas: list[str], ttl: int) -> None:
        """Evict these requests (each under its own tag), then free their user codes."""
        if not shas:
            return
        codes = await self._gateway.run(
            [evalsha(EVICT, [self._keys.device(sha)], [ttl]) for sha in shas], EVICT)
        unname = [evalsha(UNNAME, [self._keys.user_code(_text(uc))], [sha])
                  for sha, uc in zip(shas, codes, strict=True) if uc]
        if unname:
            await self._gateway.run(unname, UNNAME)

    async def by_user_code(self, user_code: str) -> DeviceRequest | None:
        """The live request a (normalised) user code names, or None."""
        sha = await self._gateway.one(("GET", self._keys.user_code(digest(user_code))))
        if sha is None:
            return None
        raw = await self._gateway.one(("HGETALL", self._keys.device(_text(sha))))
        fields = {_text(a): _text(b) for a, b in (raw.items() if isinstance(raw, dict)
                                                 else zip(raw[::2], raw[1::2], strict=True))}
        if fields.get("v") != SCHEMA_VERSION:
            return None
        expires_at = int(fields["expires"]) / 1000
        if expires_at <= self._ctx.clock():
            return None
        return DeviceRequest(
            device_sha=_text(sha), client_id=fields["client"],
            scopes=tuple(s for s in fields["scopes"].split(" ") if s),
            audience=tuple(json.loads(fields["audience"])), expires_at=expires_at,
            state=fields["state"], client_generation=fields.get("gen", ""))

    async def decide(self, request: DeviceRequest, user_code: str, *, approve: bool,
                     subject: str, scopes: tuple[str, ...]) -> bool:
        """Approve or deny a pending request once; False if it was decided or expired."""
        args = [digest(user_code), "approved" if approve else "denied", subject,
                " ".join(scopes), self._ctx.now_ms()]
        names = [self._keys.device(request.device_sha)]
        return bool(await self._gateway.one(evalsha(DECIDE, names, args), DECIDE))

    async def poll(self, device_code: str, client_id: str, *, step: int,
                   client_generation: str = "") -> Poll:
        """One poll by ``client_id`` (RFC 8628 §3.4-3.5), decided by one script; a code of
        another client, or of an earlier registration of this one, is ``invalid``."""
        names = [self._keys.device(digest(device_code))]
        args = [client_id, self._ctx.now_ms(), step, client_generation]
        reply = await self._gateway.one(evalsha(POLL, names, args), POLL)
        outcome = _text(reply[0])
        if outcome != "approved":
            return Poll(outcome, int(reply[1]))  # type: ignore[arg-type]
        scopes = tuple(s for s in _text(reply[3]).split(" ") if s)
        audience = tuple(json.loads(_text(reply[4])))
        return Poll("approved", int(reply[1]), _text(reply[2]), scopes, audience)
