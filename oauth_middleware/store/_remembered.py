"""Remembered consent: the scopes a user approved per client (OpenID Connect Core 1.0 §3.1.2.4).

Two keys per user, both under the hash tag of the user's digest (see ``keys``):

``remembered:{<sha(user)>}``, a hash: client id -> JSON :class:`RememberedConsent`
(``user``, ``client_id``, ``scopes`` and ``audience`` space-delimited,
``client_generation``, ``granted_at``, ``updated_at``, ``expires_at`` in seconds, ``v``);
``remembered:{<sha(user)>}:expiry``, a sorted set: client id -> that entry's expiry (ms).

Both keys live as long as their longest entry. An entry past its ``expires_at`` is
never read as remembered, and the next approval prunes it. One script
(:data:`REMEMBER`) decides every write: it merges the approval into the entry of the
same client registration and the same resources (scopes approved now are added, scopes
the user unticked are removed; an approval for other resources replaces the entry, so
every scope remembered was approved for every resource remembered), and keeps the
user's entries at most ``cap``, dropping the entries that expire first (with one
lifetime, the oldest approvals): concurrent approvals cannot overshoot the cap, nor
lose each other's scopes.
"""

from __future__ import annotations

from collections.abc import Iterable

from oauth_middleware.models import RememberedConsent
from oauth_middleware.store._clients import Clients
from oauth_middleware.store._codec import RecordError, dump, load
from oauth_middleware.store._context import Context, ttl_ms
from oauth_middleware.store._gateway import Script, evalsha
from oauth_middleware.store.keys import KINDS

#: KEYS: the user's hash, its expiry index; ARGV: client id, the new record (JSON, its
#: ``scopes`` those approved now), the scopes declined now (space-delimited), now (ms),
#: lifetime (ms), cap. Returns how many scopes the entry holds now (0: none, removed).
REMEMBER = Script("""
local hash, index, client = KEYS[1], KEYS[2], ARGV[1]
local record = cjson.decode(ARGV[2])
local now, ttl, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local scopes = {}
local function add(text)
  for s in string.gmatch(text, '%S+') do scopes[s] = true end
end
add(record.scopes)
local ok, prev = pcall(cjson.decode, redis.call('HGET', hash, client) or '')
if ok and type(prev) == 'table' and prev.client_generation == record.client_generation
    and type(prev.scopes) == 'string' and type(prev.expires_at) == 'number'
    and prev.expires_at * 1000 > now
    and (prev.audience or '') == (record.audience or '') then
  add(prev.scopes)
  if type(prev.granted_at) == 'number' then record.granted_at = prev.granted_at end
end
for s in string.gmatch(ARGV[3], '%S+') do scopes[s] = nil end
local kept = {}
for s in pairs(scopes) do kept[#kept + 1] = s end
table.sort(kept)
for _, member in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now)) do
  redis.call('HDEL', hash, member)
end
redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
redis.call('ZREM', index, client)
if #kept == 0 then
  redis.call('HDEL', hash, client)
  return 0
end
local over = redis.call('ZCARD', index) - cap + 1
if over > 0 then
  for _, member in ipairs(redis.call('ZRANGE', index, 0, over - 1)) do
    redis.call('HDEL', hash, member)
  end
  redis.call('ZREMRANGEBYRANK', index, 0, over - 1)
end
record.scopes = table.concat(kept, ' ')
redis.call('HSET', hash, client, cjson.encode(record))
redis.call('ZADD', index, now + ttl, client)
for _, key in ipairs(KEYS) do
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
return #kept
""")

#: KEYS: the user's hash, its expiry index; ARGV: a client id, or '' for every client.
#: Returns how many entries went.
FORGET = Script("""
if ARGV[1] == '' then
  local n = redis.call('HLEN', KEYS[1])
  redis.call('DEL', KEYS[1], KEYS[2])
  return n
end
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('HDEL', KEYS[1], ARGV[1])
""")

_HASH = KINDS["remembered_consents"][1]


class Remembered:
    """Each user's remembered consents, under that user's hash tag."""

    def __init__(self, ctx: Context, clients: Clients) -> None:
        self._ctx = ctx
        self._gateway = ctx.gateway
        self._keys = ctx.keys
        self._clients = clients

    async def remember(
        self, user: str, client_id: str, *, client_generation: str, approved: Iterable[str],
        declined: Iterable[str] = (), audience: Iterable[str] = (), lifetime: int, cap: int,
    ) -> int:
        """Merge an approval into ``user``'s entry for the client; returns how many scopes it
        holds now (0: none, the entry is gone)."""
        now = self._ctx.clock()
        record = RememberedConsent(
            user=user, client_id=client_id, scopes=frozenset(approved),
            client_generation=client_generation, granted_at=now, updated_at=now,
            expires_at=now + lifetime, audience=frozenset(audience))
        names = [self._keys.remembered(user), self._keys.remembered_index(user)]
        args = [client_id, dump(record), " ".join(sorted(set(declined))), self._ctx.now_ms(),
                ttl_ms(lifetime), cap]
        return int(await self._gateway.one(evalsha(REMEMBER, names, args), REMEMBER))

    async def scopes(self, user: str, client_id: str) -> frozenset[str]:
        """What ``user`` approved for the client as registered now; empty once it expired,
        or the client was removed (or registered anew) since."""
        raw = await self._gateway.one(("HGET", self._keys.remembered(user), client_id))
        record = self._live(raw)
        if record is None or record.user != user:
            return frozenset()
        client = await self._clients.get_client(client_id)
        if client is None or client.generation != record.client_generation:
            return frozenset()
        return record.scopes

    async def forget(self, user: str, client_id: str | None = None) -> int:
        """Forget ``user``'s entry for the client, or all of theirs; returns how many went."""
        names = [self._keys.remembered(user), self._keys.remembered_index(user)]
        return int(await self._gateway.one(evalsha(FORGET, names, [client_id or ""]), FORGET))

    async def forget_client(self, client_id: str) -> int:
        """Every user's entry for the client (a SCAN over users: for the management layer)."""
        cursor, forgotten = 0, 0
        while True:
            cursor, found = await self.page(client_id=client_id, cursor=cursor, count=500)
            for record in found:
                forgotten += await self.forget(record.user, client_id)
            if not cursor:
                return forgotten

    async def page(self, *, user: str | None = None, client_id: str | None = None,
                   cursor: int = 0, count: int = 100) -> tuple[int, list[RememberedConsent]]:
        """One page of live entries, by user (one read, cursor 0) or of every user (SCAN),
        optionally of one client; cursor 0 = done. A page may hold fewer than ``count``."""
        if user is not None:
            keys, cursor = [self._keys.remembered(user)], 0
        else:
            # every primary's keys on a cluster (the gateway's SCAN pages)
            cursor, found = await self._gateway.scan(cursor, self._keys.remembered_pattern,
                                                     count)
            prefix = self._keys.prefix
            keys = [k for k in found if _HASH.fullmatch(k[len(prefix):])]
        if client_id is not None:
            replies = await self._gateway.run([("HGET", key, client_id) for key in keys])
            raws = [raw for raw in replies if raw is not None]
        else:
            replies = await self._gateway.run([("HVALS", key) for key in keys])
            raws = [raw for values in replies for raw in values]
        records = [r for r in map(self._live, raws) if r is not None
                   and (user is None or r.user == user)]
        return cursor, sorted(records, key=lambda r: (r.user, r.client_id))

    def _live(self, raw: bytes | None) -> RememberedConsent | None:
        if raw is None:
            return None
        try:
            record = load(RememberedConsent, raw)
        except RecordError:
            return None
        return record if record.expires_at > self._ctx.clock() else None
