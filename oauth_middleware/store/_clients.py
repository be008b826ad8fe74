"""The client registry (RFC 6749 §2): records by id, and the set of every id."""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Literal

from oauth_middleware.models import Client
from oauth_middleware.store._codec import dump, load
from oauth_middleware.store._context import Context
from oauth_middleware.store._gateway import Command, Script, evalsha, texts

#: When ``save_client`` writes: always, only a new id, only over the same registration.
SaveCondition = Literal["any", "new", "same"]

#: KEYS: client; ARGV: record, condition, generation, record read.
#: Writes a client record on a condition checked in the same step:
#: "new" (no client with this id yet) or "same" (the stored client has ``generation``:
#: an edit never brings back a client removed meanwhile; and, given the record the edit
#: was made from, every field of it is still as read: an edit never undoes another made
#: meanwhile, such as a secret rotated). Fields the stored record lacks (written by an
#: older version) are not compared. Returns 1, or 0 when refused.
#: A resent "new" write finds its own record (its random generation makes it unique).
#: ARGV[5]: a "new" record's TTL (ms, '' or 0: none). An edit that keeps a client dynamic
#: keeps its TTL (``expire_unused_after``); any other write clears it.
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
  if ARGV[4] ~= '' and not unchanged(client, cjson.decode(ARGV[4])) then
    return 0
  end
end
local ok, new = pcall(cjson.decode, ARGV[1])
local ttl = tonumber(ARGV[5] or '') or 0
if ARGV[2] == 'same' and ok and type(new) == 'table' and new['dynamic'] == true then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
elseif ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1
""")


#: KEYS: clients, dynamic clients, used (one hash tag); ARGV: cap, client id, now (s).
#: Reserves a place for a client registered through RFC 7591 unless its id is listed as
#: dynamic already (0) or ``cap`` dynamically registered clients exist (-1): counting and
#: reserving in one step, so N registrations racing for the last place leave exactly one
#: in it. Returns 1 when reserved (the id is then listed in both sets, its use noted).
RESERVE_DYNAMIC = Script("""
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then
  return 0
end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  return -1
end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
""")

#: KEYS: clients, dynamic clients, used (one hash tag); ARGV: cutoff (s), then ids whose
#: record was seen gone. Unlists each id still not used since ``cutoff`` (a ``TOUCH`` since
#: moved its score past it); returns the ids unlisted, so the caller can check them again.
FORGET_EXPIRED = Script("""
local gone = {}
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[3], ARGV[i])
  if score and tonumber(score) <= tonumber(ARGV[1]) then
    redis.call('SREM', KEYS[1], ARGV[i])
    redis.call('SREM', KEYS[2], ARGV[i])
    redis.call('ZREM', KEYS[3], ARGV[i])
    gone[#gone + 1] = ARGV[i]
  end
end
return gone
""")

#: Stale ids the sweep before a registration looks at, at most.
SWEEP_BATCH = 100


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
        listed = ("SADD", self._keys.clients, client.client_id)
        try:
            if only == "any":
                await self._gateway.run([listed, ("SET", key, value)])
                saved = 1
            else:  # "same" writes over a record that is listed already
                script = evalsha(SAVE_CLIENT, [key], [value, only, client.generation, read])
                *_, saved = await self._gateway.run(
                    [listed, script] if only == "new" else [script], SAVE_CLIENT)
        finally:
            self._gateway.forget(key)
        await self._gateway.settled()
        return bool(saved)

    async def register_dynamic(self, client: Client, *, cap: int,
                               expire_unused_after: int | None = None) -> int:
        """Write a new dynamically registered client under the server-wide ``cap``
        (``RESERVE_DYNAMIC``, then the record if its id is free): 1 written, 0 its id is
        taken, -1 the cap is reached. The id lists and the record carry different hash
        tags: a place is reserved first and given back when the id turns out taken.
        With ``expire_unused_after`` (seconds) the record disappears unless :meth:`touch`
        runs within that time, and expired ones are swept first (:meth:`_sweep`), so they
        stop counting against the cap."""
        key, value, client_id = self._keys.client(client.client_id), dump(client), client.client_id
        ttl, now = (expire_unused_after or 0) * 1000, self._clock()
        if ttl:
            await self._sweep(now, ttl)
        registry = [self._keys.clients, self._keys.dynamic_clients, self._keys.dynamic_used]
        reserved = int(await self._gateway.one(
            evalsha(RESERVE_DYNAMIC, registry, [cap, client_id, now]), RESERVE_DYNAMIC))
        if reserved != 1:
            return reserved
        try:
            written = await self._gateway.one(
                evalsha(SAVE_CLIENT, [key], [value, "new", "", "", ttl]), SAVE_CLIENT)
        finally:
            self._gateway.forget(key)
        if not int(written):
            await self._gateway.run([("SREM", self._keys.dynamic_clients, client_id),
                                     ("ZREM", self._keys.dynamic_used, client_id)])
            return 0
        await self._gateway.settled()
        return 1

    async def _sweep(self, now: float, ttl: int) -> None:
        """Unlist up to :data:`SWEEP_BATCH` dynamic clients unused for ``ttl`` ms whose
        record expired. One still there was used since, or registered before expiry was
        configured (no TTL: its unused time starts now); either way its score moves to
        when its TTL began. A record without TTL that is no longer dynamic (the host took
        the id over) leaves ``used``. See ``keys`` for why each step is safe to repeat."""
        cutoff = now - ttl / 1000
        stale = texts(await self._gateway.one(
            ("ZRANGEBYSCORE", self._keys.dynamic_used, "-inf", cutoff, "LIMIT", 0, SWEEP_BATCH)))
        if not stale:
            return
        keys = [self._keys.client(client_id) for client_id in stale]
        left = await self._gateway.run([("PTTL", key) for key in keys])
        raws = await self._gateway.run([("GET", k) for k, ms in zip(keys, left, strict=True)
                                        if int(ms) == -1])
        no_ttl = iter(raws)
        gone: list[str] = []
        later: list[Command] = []
        for client_id, key, ms in zip(stale, keys, map(int, left), strict=True):
            if ms == -2:
                gone.append(client_id)
            elif ms >= 0:
                later.append(("ZADD", self._keys.dynamic_used, now - (ttl - ms) / 1000, client_id))
            elif _dynamic(next(no_ttl)):
                later += [("PEXPIRE", key, ttl), ("ZADD", self._keys.dynamic_used, now, client_id)]
            else:
                later.append(("ZREM", self._keys.dynamic_used, client_id))
        if later:
            await self._gateway.run(later)
        if gone:
            await self._forget_expired(cutoff, gone)

    async def _forget_expired(self, cutoff: float, gone: list[str]) -> None:
        """Unlist ids whose record was seen gone; any written again meanwhile is listed again."""
        registry = [self._keys.clients, self._keys.dynamic_clients, self._keys.dynamic_used]
        unlisted = texts(await self._gateway.one(
            evalsha(FORGET_EXPIRED, registry, [cutoff, *gone]), FORGET_EXPIRED))
        back = await self._gateway.run([("EXISTS", self._keys.client(client_id))
                                        for client_id in unlisted])
        relist = [client_id for client_id, there in zip(unlisted, back, strict=True) if there]
        if relist:
            await self._gateway.one(("SADD", self._keys.clients, *relist))

    async def touch(self, client_id: str, *, expire_unused_after: int | None = None) -> bool:
        """A dynamic client was used: start its expiry again and note when (one command
        per slot, pipelined). False when its record is gone (the note is then swept)."""
        key, ttl = self._keys.client(client_id), (expire_unused_after or 0) * 1000
        there, _ = await self._gateway.run([
            ("PEXPIRE", key, ttl) if ttl else ("EXISTS", key),
            ("ZADD", self._keys.dynamic_used, self._clock(), client_id)])
        return bool(there)

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
        """Remove a client record; from then on nothing is issued to it (``CLIENT_INDEX`` checks the
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


def _dynamic(raw: bytes | None) -> bool:
    """Whether a stored client record (as read) is a dynamically registered one."""
    try:
        return raw is not None and json.loads(raw).get("dynamic") is True
    except (ValueError, AttributeError):
        return False
