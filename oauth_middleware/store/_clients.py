"""The client registry (RFC 6749 §2): records by id, and the set of every id."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Literal

from oauth_middleware.models import Client
from oauth_middleware.store._codec import dump, load
from oauth_middleware.store._context import Context
from oauth_middleware.store._gateway import Script, evalsha, texts

#: When ``save_client`` writes: always, only a new id, only over the same registration.
SaveCondition = Literal["any", "new", "same"]

#: KEYS: client, clients; ARGV: record, condition, generation, client id, record read.
#: Writes a client record and lists its id, on a condition checked in the same step:
#: "new" (no client with this id yet) or "same" (the stored client has ``generation``:
#: an edit never brings back a client removed meanwhile; and, given the record the edit
#: was made from, every field of it is still as read: an edit never undoes another made
#: meanwhile, such as a secret rotated). Fields the stored record lacks (written by an
#: older version) are not compared. Returns 1, or 0 when refused.
#: A resent "new" write finds its own record (its random generation makes it unique).
#: An edit that keeps a client dynamic keeps its TTL (``expire_unused_after``); any other
#: write clears it.
SAVE_CLIENT = Script("""
local function unchanged(stored, read)
  for name, value in pairs(read) do
    local now = stored[name]
    if name ~= 'v' and now ~= nil then
      if type(now) == 'table' and type(value) == 'table' then
        if cjson.encode(now) ~= cjson.encode(value) then
          return false
        end
      elseif now ~= value then
        return false
      end
    end
  end
  return true
end
local raw = redis.call('GET', KEYS[1])
if ARGV[2] == 'new' then
  if raw then
    return raw == ARGV[1] and 1 or 0
  end
else
  if not raw then
    return 0
  end
  local ok, client = pcall(cjson.decode, raw)
  local generation = ok and type(client) == 'table' and client['generation'] or ''
  if generation ~= ARGV[3] then
    return 0
  end
  if ARGV[5] ~= '' and not unchanged(client, cjson.decode(ARGV[5])) then
    return 0
  end
end
local ok, new = pcall(cjson.decode, ARGV[1])
if ARGV[2] == 'same' and ok and type(new) == 'table' and new['dynamic'] == true then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[1])
end
redis.call('SADD', KEYS[2], ARGV[4])
return 1
""")

#: Lua: drop from the client sets up to 100 dynamic clients last used before ``now - ttl``
#: whose record expired (KEYS[2..4]: clients, dynamic clients, used; ARGV[4]: the client key
#: head). One still there was used since, or registered before expiry was configured (no
#: TTL: its unused time starts now); either way its score moves to when its TTL began. A
#: record without TTL that is no longer dynamic (the host took the id over) leaves ``used``.
_SWEEP = """
local function sweep(now, ttl)
  local old = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - ttl / 1000, 'LIMIT', 0, 100)
  for _, id in ipairs(old) do
    local left = redis.call('PTTL', ARGV[4] .. id)
    if left == -2 then
      redis.call('SREM', KEYS[2], id)
      redis.call('SREM', KEYS[3], id)
      redis.call('ZREM', KEYS[4], id)
    elseif left == -1 then
      local ok, client = pcall(cjson.decode, redis.call('GET', ARGV[4] .. id))
      if ok and type(client) == 'table' and client['dynamic'] == true then
        redis.call('PEXPIRE', ARGV[4] .. id, ttl)
        redis.call('ZADD', KEYS[4], now, id)
      else
        redis.call('ZREM', KEYS[4], id)
      end
    else
      redis.call('ZADD', KEYS[4], now - (ttl - left) / 1000, id)
    end
  end
end
"""


#: KEYS: client, clients, dynamic clients, used; ARGV: record, cap, client id, client key
#: head, now (s), ttl (ms, 0: never expires unused).
#: Registers a client through RFC 7591 unless its id is taken (0) or ``cap`` dynamically
#: registered clients exist already (-1): counting and writing in one step, so N
#: registrations racing for the last place leave exactly one in it. Returns 1 when written.
#: With a ttl the record expires unless used (``TOUCH``), and expired ones are swept from
#: the sets first (bounded), so they stop counting against the cap.
REGISTER_DYNAMIC = Script(_SWEEP + """
local now, ttl = tonumber(ARGV[5]), tonumber(ARGV[6])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if ttl > 0 then
  sweep(now, ttl)
end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[2]) then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('ZADD', KEYS[4], now, ARGV[3])
return 1
""")

#: KEYS: client, used; ARGV: client id, now (s), ttl (ms, 0: none). A dynamic client was
#: used: its record's TTL starts again and its last use is noted. 0 when it is gone.
TOUCH = Script("""
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return 1
""")


class Clients:
    """Client records, each under its own key, listed in one set."""

    def __init__(self, ctx: Context) -> None:
        self._gateway = ctx.gateway
        self._keys = ctx.keys
        self._clock = ctx.clock

    async def save_client(self, client: Client, *, only: SaveCondition = "any",
                          over: Client | None = None,
                          fields: Collection[str] | None = None) -> bool:
        """Create or replace a client (its secret is already a hash in ``secret_hash``).

        ``only="new"``: unless the id is taken; ``only="same"``: only over the stored record
        of the same ``generation`` (an edit never brings back a client removed meanwhile)
        and, given ``over`` (the record the edit was made from), only while the stored
        record still holds ``over``'s values of ``fields`` (default: all of them), so an
        edit never undoes one made meanwhile: a rotated secret stays rotated. Decided in
        the same script that writes; False when refused.
        """
        key, value = self._keys.client(client.client_id), dump(client)
        read = "" if over is None else _fields(over, fields)
        try:
            if only == "any":
                await self._gateway.run([("SET", key, value),
                                         ("SADD", self._keys.clients, client.client_id)])
                saved = 1
            else:
                saved = await self._gateway.one(evalsha(
                    SAVE_CLIENT, [key, self._keys.clients],
                    [value, only, client.generation, client.client_id, read]), SAVE_CLIENT)
        finally:
            self._gateway.forget(key)
        await self._gateway.settled()
        return bool(saved)

    async def register_dynamic(self, client: Client, *, cap: int,
                               expire_unused_after: int | None = None) -> int:
        """Write a new dynamically registered client under the server-wide ``cap``
        (``REGISTER_DYNAMIC``): 1 written, 0 its id is taken, -1 the cap is reached.
        With ``expire_unused_after`` (seconds) it disappears unless :meth:`touch` runs
        within that time."""
        key, value = self._keys.client(client.client_id), dump(client)
        try:
            result = await self._gateway.one(evalsha(
                REGISTER_DYNAMIC, [key, self._keys.clients, self._keys.dynamic_clients,
                                   self._keys.dynamic_used],
                [value, cap, client.client_id, self._keys.client(""), self._clock(),
                 (expire_unused_after or 0) * 1000]), REGISTER_DYNAMIC)
        finally:
            self._gateway.forget(key)
        await self._gateway.settled()
        return int(result)

    async def touch(self, client_id: str, *, expire_unused_after: int | None = None) -> bool:
        """A dynamic client was used: note when, and start its expiry again (``TOUCH``)."""
        return bool(await self._gateway.one(evalsha(
            TOUCH, [self._keys.client(client_id), self._keys.dynamic_used],
            [client_id, self._clock(), (expire_unused_after or 0) * 1000]), TOUCH))

    async def last_used(self, client_ids: list[str]) -> dict[str, float]:
        """When each of these dynamic clients was last used (registered, if never since)."""
        if not client_ids:
            return {}
        # one ZSCORE each, pipelined: ZMSCORE would need Redis 6.2
        scores = await self._gateway.run([("ZSCORE", self._keys.dynamic_used, client_id)
                                          for client_id in client_ids])
        return {cid: float(score) for cid, score in zip(client_ids, scores, strict=True)
                if score is not None}

    async def count_dynamic(self) -> int:
        """How many dynamically registered clients exist (against their cap)."""
        return int(await self._gateway.one(("SCARD", self._keys.dynamic_clients)))

    async def get_client(self, client_id: str) -> Client | None:
        raw = await self._gateway.one(("GET", self._keys.client(client_id)))
        return None if raw is None else load(Client, raw)

    async def delete_client(self, client_id: str) -> bool:
        """Remove a client record; from then on nothing is issued to it (``ISSUE`` checks the
        record). Its tokens are revoked by ``revoke_client_tokens``."""
        key = self._keys.client(client_id)
        try:
            deleted, *_ = await self._gateway.run([
                ("DEL", key), ("SREM", self._keys.clients, client_id),
                ("SREM", self._keys.dynamic_clients, client_id),
                ("SREM", self._keys.document_clients, client_id),
                ("ZREM", self._keys.dynamic_used, client_id)])
        finally:
            self._gateway.forget(key)
        await self._gateway.settled()
        return bool(deleted)

    async def list_clients(
        self, cursor: int = 0, count: int = 100, *, search: str | None = None
    ) -> tuple[int, list[Client]]:
        """One SSCAN page of clients, sorted by id; pass the returned cursor back, 0 = done.

        ``search`` keeps the clients whose id or title contains it (case-insensitive).
        The cursor still walks the whole set, so a filtered page may hold fewer
        than ``count`` clients, even none, before the end.
        """
        cursor_raw, ids = await self._gateway.one(
            ("SSCAN", self._keys.clients, cursor, "COUNT", count))
        raws = await self._gateway.run([("GET", self._keys.client(client_id))
                                        for client_id in sorted(texts(ids))])
        clients = [load(Client, raw) for raw in raws if raw is not None]
        needle = (search or "").strip().casefold()
        if needle:
            clients = [c for c in clients
                       if needle in c.client_id.casefold() or needle in c.title.casefold()]
        return int(cursor_raw), clients


def _fields(record: Client, names: Collection[str] | None) -> str:
    """``record``'s stored form, cut down to ``names`` (all when None): what must still hold."""
    stored = json.loads(dump(record))
    return json.dumps(stored if names is None else {name: stored[name] for name in names})
