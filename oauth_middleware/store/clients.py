"""Client and scope registry (RFC 6749 §2, §3.3)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from typing import Literal

from oauth_middleware.models import Client, Scope
from oauth_middleware.store import scripts
from oauth_middleware.store.authn import AuthnMixin, ScopeSnapshot
from oauth_middleware.store.codec import dump, load
from oauth_middleware.store.connection import GUARD

#: When ``save_client`` writes: always, only a new id, only over the same registration.
SaveCondition = Literal["any", "new", "same"]


class ClientStore(AuthnMixin):
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
        key, value = self.keys.client(client.client_id), dump(client)
        read = "" if over is None else _fields(over, fields)
        try:
            if only == "any":
                await self.run([("SET", key, value), ("SADD", self.keys.clients, client.client_id)])
                saved = 1
            else:
                (saved,) = await self.run([self.evalsha(
                    scripts.SAVE_CLIENT, [key, self.keys.clients],
                    [value, only, client.generation, client.client_id, read])],
                    scripts.SAVE_CLIENT)
        finally:
            self.forget(key)
        await self.settled()
        return bool(saved)

    async def get_client(self, client_id: str) -> Client | None:
        """The registered client ``client_id``, or None when there is none."""
        with GUARD:
            raw = await self.redis.get(self.keys.client(client_id))
        return None if raw is None else load(Client, raw)

    async def delete_client(self, client_id: str) -> bool:
        """Remove a client record; from then on nothing is issued to it (``scripts.ISSUE``
        checks the record). Its tokens are revoked by ``revoke_client_tokens``."""
        key = self.keys.client(client_id)
        try:
            deleted, _ = await self.run([("DEL", key), ("SREM", self.keys.clients, client_id)])
        finally:
            self.forget(key)
        await self.settled()
        return bool(deleted)

    async def list_clients(
        self, cursor: int = 0, count: int = 100, *, search: str | None = None
    ) -> tuple[int, list[Client]]:
        """One SSCAN page of clients, sorted by id; pass the returned cursor back, 0 = done.

        ``search`` keeps the clients whose id or title contains it (case-insensitive).
        The cursor still walks the whole set, so a filtered page may hold fewer
        than ``count`` clients, even none, before the end.
        """
        with GUARD:
            cursor, ids = await self.redis.sscan(self.keys.clients, cursor, count=count)
            async with self.redis.pipeline(transaction=False) as pipe:
                for client_id in sorted(self.texts(list(ids))):
                    pipe.get(self.keys.client(client_id))
                raws = await pipe.execute()
        clients = [load(Client, raw) for raw in raws if raw is not None]
        needle = (search or "").strip().casefold()
        if needle:
            clients = [c for c in clients
                       if needle in c.client_id.casefold() or needle in c.title.casefold()]
        return int(cursor), clients

    async def save_scope(self, scope: Scope) -> None:
        """Register ``scope``, or replace the scope of the same identifier."""
        try:
            await self.run([("HSET", self.keys.scopes, scope.identifier, dump(scope))])
        finally:
            self.forget(self.keys.scopes)
        await self.settled()

    async def create_scope(self, scope: Scope) -> bool:
        """Register a scope unless one with its identifier exists (HSETNX: races lose cleanly)."""
        try:
            (created,) = await self.run([("HSETNX", self.keys.scopes, scope.identifier,
                                          dump(scope))])
        finally:
            self.forget(self.keys.scopes)
        await self.settled()
        return bool(created)

    async def get_scopes(
        self, identifiers: Iterable[str], *, snapshot: ScopeSnapshot | None = None
    ) -> dict[str, Scope]:
        """The registered scopes among ``identifiers`` (unknown ones are absent).

        ``snapshot``: scopes this request read already (:mod:`.authn`); when it
        covers every identifier nothing is read again, else the store notes what
        the snapshot's client needed, to read it along with its next request.
        """
        wanted = list(dict.fromkeys(identifiers))
        if not wanted:
            return {}
        if snapshot is not None:
            if snapshot.covers(wanted):
                return snapshot.pick(wanted)
            if snapshot.client_id:
                self.note_scopes(snapshot.client_id, frozenset(wanted))
        with GUARD:
            raws = await self.redis.hmget(self.keys.scopes, wanted)
        return {sid: load(Scope, raw) for sid, raw in zip(wanted, raws, strict=True) if raw}

    async def list_scopes(self) -> list[Scope]:
        """Every registered scope, enabled or not, sorted by identifier."""
        with GUARD:
            raws = await self.redis.hgetall(self.keys.scopes)
        return sorted((load(Scope, raw) for raw in raws.values()), key=lambda s: s.identifier)

    async def delete_scope(self, identifier: str) -> bool:
        """Remove a scope from the registry; False when it was not registered."""
        try:
            (deleted,) = await self.run([("HDEL", self.keys.scopes, identifier)])
        finally:
            self.forget(self.keys.scopes)
        await self.settled()
        return bool(deleted)


def _fields(record: Client, names: Collection[str] | None) -> str:
    """``record``'s stored form, cut down to ``names`` (all when None): what must still hold."""
    stored = json.loads(dump(record))
    return json.dumps(stored if names is None else {name: stored[name] for name in names})
