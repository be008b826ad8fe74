"""Clients known by a Client ID Metadata Document: their records and the state of their fetch.

A document client is a client record like any other (under ``client:<url>``, listed in
``clients``), so codes, tokens and their checks work unchanged; besides, its id is in
``clients:documents``, capped server-wide, and ``document:<sha(url)>`` says whether the
last fetch succeeded (``ok``, for the document's cache lifetime) or failed (``failed``,
briefly). Whether to fetch is decided from that key; the fetch itself is the server's.

The id lists (``{registry}``), the record (the client's slot) and the state (its own tag)
are in three cluster slots: a new client reserves its place first (``RESERVE_DOCUMENT``),
then ``STORE`` writes the record, then the state is set (``keys`` says why this is safe).
"""

from __future__ import annotations

from oauth_middleware.models import Client
from oauth_middleware.store._codec import dump, load
from oauth_middleware.store._context import Context, ttl_ms
from oauth_middleware.store._gateway import Script, evalsha

#: KEYS: clients, document clients (one hash tag); ARGV: cap, client id. Lists a new
#: document client unless ``cap`` are listed (-1); 1 listed (or listed already).
RESERVE_DOCUMENT = Script("""
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then
  return 1
end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  return -1
end
redis.call('SADD', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
return 1
""")

#: KEYS: client; ARGV: record, generation of the record it replaces ('' for none).
#: Writes a document client: a new one only while no record has its id, a refreshed one
#: only over the record it was read from (its ``generation``), so two workers fetching at
#: once cannot both create it or undo a removal. 1 written, 0 not.
STORE = Script("""
local raw = redis.call('GET', KEYS[1])
if ARGV[2] == '' then
  if raw then
    return 0
  end
else
  if not raw then
    return 0
  end
  local ok, client = pcall(cjson.decode, raw)
  local generation = ok and type(client) == 'table' and client['generation'] or ''
  if generation ~= ARGV[2] then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
""")

FRESH = "ok"
FAILED = "failed"


class Documents:
    """The store's side of document clients (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self._gateway = ctx.gateway
        self._keys = ctx.keys

    async def read(self, url: str) -> tuple[str | None, Client | None]:
        """The last fetch's state (``ok``, ``failed`` or None: none, or it expired) and the
        client record, in one round trip."""
        state, raw = await self._gateway.run([("GET", self._keys.document(url)),
                                              ("GET", self._keys.client(url))])
        text = state.decode() if isinstance(state, bytes) else state
        return text, None if raw is None else load(Client, raw)

    async def store(self, client: Client, *, replaces: str, cap: int, lifetime: float) -> int:
        """Write ``client`` (``RESERVE_DOCUMENT`` for a new one, ``STORE``, then the fresh
        state): 1 written, 0 the stored record changed meanwhile, -1 the cap of document
        clients is reached. A new client refused by ``STORE`` has a record of its id, so the
        place it reserved is rightly taken."""
        key, client_id = self._keys.client(client.client_id), client.client_id
        if not replaces:
            reserved = int(await self._gateway.one(evalsha(
                RESERVE_DOCUMENT, [self._keys.clients, self._keys.document_clients],
                [cap, client_id]), RESERVE_DOCUMENT))
            if reserved != 1:
                return reserved
        try:
            written = int(await self._gateway.one(
                evalsha(STORE, [key], [dump(client), replaces]), STORE))
        finally:
            self._gateway.forget(key)
        if written:
            await self._gateway.one(("SET", self._keys.document(client_id), FRESH, "PX",
                                     ttl_ms(lifetime)))
        await self._gateway.settled()
        return written

    async def failed(self, url: str, lifetime: float) -> None:
        """Remember a failed fetch for ``lifetime`` seconds, unless a fresh one is recorded."""
        await self._gateway.one(("SET", self._keys.document(url), FAILED, "PX",
                                 ttl_ms(lifetime), "NX"))

    async def count(self) -> int:
        return int(await self._gateway.one(("SCARD", self._keys.document_clients)))
