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

#: KEYS: client; ARGV: record, condition, generation, record read.
#: Writes a client record on a condition checked in the same step:
#: "new" (no client with this id yet) or "same" (the stored client has ``generation``:
#: an edit never brings back a client removed meanwhile; and, given the record the edit
#: was made from, every field of it is still as read: an edit never undoes another made
#: meanwhile, such as a secret rotated). Fields the stored record lacks (written by an
#: older version) are not compared. Returns 1, or 0 when refused.
#: A resent "new" write finds its own record (its random generation makes it unique).
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
redis.call('SET', KEYS[1], ARGV[1])
return 1
""")


#: KEYS: clients, dynamic clients (one hash tag); ARGV: cap, client id.
#: Reserves a place for a client registered through RFC 7591 unless its id is listed as
#: dynamic already (0) or ``cap`` dynamically registered clients exist (-1): counting and
#: reserving in one step, so N registrations racing for the last place leave exactly one
#: in it. Returns 1 when reserved (the id is then listed in both sets).
RESERVE_DYNAMIC = Script("""
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then
  return 0
end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  return -1
end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
""")


class Clients:
    """Client records, each under its own key, listed in one set."""

    def __init__(self, ctx: Context) -> None:
        self._gateway = ctx.gateway
        self._keys = ctx.keys

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

    async def register_dynamic(self, client: Client, *, cap: int) -> int:
        """Write a new dynamically registered client under the server-wide ``cap``
        (``RESERVE_DYNAMIC``, then the record if its id is free): 1 written, 0 its id is
        taken, -1 the cap is reached. The id lists and the record carry different hash
        tags: a place is reserved first and given back when the id turns out taken."""
        key, value, client_id = self._keys.client(client.client_id), dump(client), client.client_id
        registry = [self._keys.clients, self._keys.dynamic_clients]
        reserved = int(await self._gateway.one(
            evalsha(RESERVE_DYNAMIC, registry, [cap, client_id]), RESERVE_DYNAMIC))
        if reserved != 1:
            return reserved
        try:
            written = await self._gateway.one(
                evalsha(SAVE_CLIENT, [key], [value, "new", "", ""]), SAVE_CLIENT)
        finally:
            self._gateway.forget(key)
        if not int(written):
            await self._gateway.run([("SREM", self._keys.dynamic_clients, client_id)])
            return 0
        await self._gateway.settled()
        return 1

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
            deleted, _, _ = await self._gateway.run([
                ("DEL", key), ("SREM", self._keys.clients, client_id),
                ("SREM", self._keys.dynamic_clients, client_id)])
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
