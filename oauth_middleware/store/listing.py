"""Paging through live tokens for the CLI and the admin, with Redis SCAN cursors."""

from __future__ import annotations

from oauth_middleware.models import AccessToken
from oauth_middleware.store.base import StoreBase
from oauth_middleware.store.codec import load
from oauth_middleware.store.connection import GUARD


class ListingMixin(StoreBase):
    async def list_tokens(
        self, *, client_id: str | None = None, user: str | None = None,
        cursor: int = 0, count: int = 100,
    ) -> tuple[int, list[AccessToken]]:
        """One page of live access-token records (never raw values); cursor 0 = last page.

        With a client or user it walks that index (ZSCAN), else every token (SCAN).
        A page may hold fewer than ``count`` records, even none, before the end.
        """
        with GUARD:
            if client_id is None and user is None:
                cursor, found = await self.redis.scan(
                    cursor, match=self.keys.access_pattern, count=count
                )
                keys = self.texts(list(found))
            else:
                cursor, keys = await self._index_page(client_id, user, cursor, count)
            records = await self._live(keys)
        return int(cursor), [
            r for r in records
            if (client_id is None or r.client_id == client_id) and (user is None or r.user == user)
        ]

    async def _index_page(
        self, client_id: str | None, user: str | None, cursor: int, count: int
    ) -> tuple[int, list[str]]:
        index = self.keys.client_index(client_id) if client_id else self.keys.user_index(user or "")
        cursor, pairs = await self.redis.zscan(index, cursor, count=count)
        async with self.redis.pipeline(transaction=False) as pipe:
            for grant_id in self.texts([gid for gid, _ in pairs]):
                pipe.smembers(self.keys.members(grant_id))
            member_sets = await pipe.execute()
        keys = [key for ms in member_sets for key in self.texts(list(ms))]
        return int(cursor), [key for key in keys if self.keys.is_access(key)]

    async def _live(self, keys: list[str]) -> list[AccessToken]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
            raws = await pipe.execute()
        now = self.clock()
        records = (load(AccessToken, raw) for raw in raws if raw is not None)
        return sorted((r for r in records if not r.is_expired(now)), key=lambda r: r.issued_at)
