"""Access and refresh tokens read back: resolve in one round trip, look up, list (RFC 6750 §3,
RFC 7009 §2.1, RFC 7662 §2.1)."""

from __future__ import annotations

from oauth_middleware.models import AccessToken, RefreshToken
from oauth_middleware.security import digest, grant_id_of
from oauth_middleware.store._codec import load, load_access
from oauth_middleware.store._context import Context
from oauth_middleware.store._gateway import texts
from oauth_middleware.store._generations import live_token, presented_refresh, refresh_keys


class Tokens:
    """Reads of token records; writes belong to :mod:`._grants` and :mod:`._revocation`."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._gateway = ctx.gateway
        self._keys = ctx.keys

    async def resolve(self, token: str) -> AccessToken | None:
        """The live record of an access token, read from Redis in one round trip.

        Lookups made in the same loop iteration share that round trip (one MGET,
        see :mod:`._gateway.batch`). Without the local cache every call reads Redis;
        with it, a hit is a record Redis has not invalidated since (see
        :mod:`._gateway.cache`).
        """
        grant_id = grant_id_of(token)
        if grant_id is None:
            return None
        record = await self._gateway.read(self._keys.access(grant_id, digest(token)),
                                          load_access)
        if record is None:
            return None
        expires_at = record.expires_at
        return None if expires_at is not None and expires_at <= self._ctx.clock() else record

    async def lookup(self, token: str) -> AccessToken | RefreshToken | None:
        """A live access or refresh token record, whichever ``token`` is (RFC 7009 §2.1)."""
        record = await self.find(token)
        return None if isinstance(record, RefreshToken) and record.rotated else record

    async def find(self, token: str) -> AccessToken | RefreshToken | None:
        """:meth:`lookup`, rotated-away refresh tokens included (``rotated``)."""
        grant_id = grant_id_of(token)
        if grant_id is None:
            return None
        at, current, legacy = await self._gateway.one(
            ("MGET", self._keys.access(grant_id, digest(token)),
             *refresh_keys(self._keys, grant_id, token)))
        now = self._ctx.clock()
        return live_token(at, presented_refresh(token, current, legacy, now), now)

    async def list_tokens(
        self, *, client_id: str | None, user: str | None, cursor: int, count: int,
    ) -> tuple[int, list[AccessToken]]:
        """One page of live access-token records (never raw values); cursor 0 = last page.

        With a client or user it walks that index (ZSCAN), else every token (SCAN).
        A page may hold fewer than ``count`` records, even none, before the end.
        """
        if client_id is None and user is None:
            cursor, keys = await self._gateway.scan(cursor, self._keys.access_pattern, count)
        else:
            cursor, keys = await self._index_page(client_id, user, cursor, count)
        records = await self._live(keys)
        return cursor, [
            r for r in records
            if (client_id is None or r.client_id == client_id) and (user is None or r.user == user)
        ]

    async def _index_page(
        self, client_id: str | None, user: str | None, cursor: int, count: int
    ) -> tuple[int, list[str]]:
        k = self._keys
        index = k.client_index(client_id) if client_id else k.user_index(user or "")
        cursor_raw, flat = await self._gateway.one(("ZSCAN", index, cursor, "COUNT", count))
        grant_ids = texts(flat[::2])
        member_sets = await self._gateway.run([("SMEMBERS", k.members(g)) for g in grant_ids])
        keys = [key for ms in member_sets for key in texts(ms)]
        return int(cursor_raw), [key for key in keys if k.is_access(key)]

    async def _live(self, keys: list[str]) -> list[AccessToken]:
        raws = await self._gateway.run([("GET", key) for key in keys]) if keys else []
        now = self._ctx.clock()
        records = (load(AccessToken, raw) for raw in raws if raw is not None)
        return sorted((r for r in records if not r.is_expired(now)), key=lambda r: r.issued_at)
