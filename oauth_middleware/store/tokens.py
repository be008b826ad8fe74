"""Access and refresh tokens: issue, resolve in one round trip, revoke (RFC 6749 §1.4, RFC 7009)."""

from __future__ import annotations

from oauth_middleware.models import AccessToken, IssuedTokens, RefreshToken
from oauth_middleware.security import DIGEST_CHARS, digest, grant_id_of, new_grant_id
from oauth_middleware.store import scripts
from oauth_middleware.store.authn import live_token
from oauth_middleware.store.base import Progress
from oauth_middleware.store.cache import TokenCache
from oauth_middleware.store.codec import load_access
from oauth_middleware.store.connection import GUARD, StoreUnavailable
from oauth_middleware.store.generations import presented_refresh, refresh_keys
from oauth_middleware.store.writer import GrantWriter, NewTokens

#: Grants revoked per round trip by ``revoke_user`` and ``revoke_client_tokens``.
REVOKE_BATCH = 500


class TokenMixin(GrantWriter):
    async def issue(self, spec: NewTokens) -> IssuedTokens:
        """Start a new grant and store its tokens (:class:`ClientRemoved`: the client is gone)."""
        grant_id = new_grant_id()
        issued, members = self.mint(grant_id, spec)
        await self.write_members(
            grant_id, members, client_id=spec.client_id, subject=spec.subject,
            subject_type=spec.subject_type, generation=spec.client_generation,
        )
        return issued

    async def resolve(self, token: str) -> AccessToken | None:
        """The live record of an access token, read from Redis in one round trip.

        Lookups made in the same loop iteration share that round trip (one MGET,
        see :mod:`.batch`). Without the local cache every call reads Redis; with
        it, a hit is a record Redis has not invalidated since (see :mod:`.cache`).
        """
        grant_id = grant_id_of(token)
        if grant_id is None:
            return None
        key = self.keys.access(grant_id, digest(token))
        cache = self.cache
        if cache is None:
            record = await self._read_access(key)
        else:
            record = cache.get(key) or await self._read_through(cache, key)
        if record is None:
            return None
        expires_at = record.expires_at
        return None if expires_at is not None and expires_at <= self.clock() else record

    async def _read_access(self, key: str) -> AccessToken | None:
        try:
            raw = await self.reads.get(key)
        except StoreUnavailable as exc:
            raise exc.with_traceback(None) from None
        return None if raw is None else load_access(raw)

    async def _read_through(self, cache: TokenCache, key: str) -> AccessToken | None:
        epoch = cache.begin(key)
        record = None
        try:
            record = await self._read_access(key)
        finally:
            cache.finish(key, epoch, record)
        return record

    async def lookup(self, token: str) -> AccessToken | RefreshToken | None:
        """A live access or refresh token record, whichever ``token`` is (RFC 7009 §2.1)."""
        record = await self._find(token)
        return None if isinstance(record, RefreshToken) and record.rotated else record

    async def _find(self, token: str) -> AccessToken | RefreshToken | None:
        """:meth:`lookup`, rotated-away refresh tokens included (``rotated``)."""
        grant_id = grant_id_of(token)
        if grant_id is None:
            return None
        with GUARD:
            at, current, legacy = await self.redis.mget(
                self.keys.access(grant_id, digest(token)),
                *refresh_keys(self.keys, grant_id, token))
        now = self.clock()
        return live_token(at, presented_refresh(token, current, legacy, now), now)

    async def revoke_token(self, token: str) -> bool:
        """Revoke one token: an access token alone, a refresh token with its whole grant,
        whether it is the current one or rotated away (RFC 7009 §2.1, RFC 9700 §4.14.2)."""
        record = await self._find(token)
        if record is None:
            return False
        if isinstance(record, RefreshToken):
            await self.revoke_grant(record.grant_id)
            return True
        return await self.revoke_access(record.grant_id, digest(token))

    async def revoke_access(self, grant_id: str, sha_or_fingerprint: str) -> bool:
        """Delete one access token of a grant, named by its digest or its fingerprint.

        A full digest names the key itself, so no member listing is read first."""
        members_key = self.keys.members(grant_id)
        prefix = self.keys.access(grant_id, sha_or_fingerprint)
        if len(sha_or_fingerprint) == DIGEST_CHARS:
            targets = [prefix]
        else:
            with GUARD:
                members = self.texts(list(await self.redis.smembers(members_key)))
            targets = [key for key in members if key.startswith(prefix)]
        if len(targets) != 1:
            return False
        keys = [members_key, targets[0]]
        try:
            (deleted,) = await self.run([self.evalsha(scripts.REMOVE_MEMBER, keys, [])],
                                        scripts.REMOVE_MEMBER)
        finally:
            self.forget(targets[0])
        await self.settled()
        return bool(deleted)

    async def _revoke_index(self, index_key: str, progress: Progress | None) -> int:
        """Revoke every grant of an index, one ZSCAN page (about ``REVOKE_BATCH``) per step.

        A full ZSCAN returns every entry present from its start to its end, so each grant
        indexed before the sweep began is reached, however many are added or removed
        meanwhile, and no read returns the whole index at once. Each page is revoked first
        and only then unindexed, so an interrupted run leaves nothing alive that an index
        has forgotten.
        """
        with GUARD:
            total = int(await self.redis.zcard(index_key))
        cursor, done, deleted = 0, 0, 0
        while True:
            with GUARD:
                cursor, pairs = await self.redis.zscan(index_key, cursor, count=REVOKE_BATCH)
            batch = list(dict.fromkeys(self.texts([grant_id for grant_id, _ in pairs])))
            if batch:
                deleted += await self._sweep(index_key, batch)
                done += len(batch)
                if progress is not None:
                    progress(min(done, total), total)
            if not int(cursor):
                await self.settled()
                return deleted

    async def _sweep(self, index_key: str, grant_ids: list[str]) -> int:
        """Revoke ``grant_ids`` in one round trip, then drop them from ``index_key`` and from
        the other index each was in (its client's or its user's), so revoking a user's grants
        leaves no dead entry in their clients' indexes, nor the reverse. The local cache
        drops the deleted keys at once."""
        replies = await self.run([self.evalsha(scripts.SWEEP_GRANT, [self.keys.members(g)], [])
                                  for g in grant_ids], scripts.SWEEP_GRANT)
        unindex: dict[str, list[str]] = {index_key: list(grant_ids)}
        deleted = 0
        for grant_id, (client_id, subject, subject_type, keys) in zip(grant_ids, replies,
                                                                      strict=True):
            self.forget_all(keys)
            deleted += len(keys)
            client_id, subject, subject_type = self.texts([client_id, subject, subject_type])
            if client_id:
                for other in (self.keys.client_index(client_id),
                              self.keys.subject_index(subject, subject_type)):
                    if other != index_key:
                        unindex.setdefault(other, []).append(grant_id)
        await self.run([("ZREM", key, *ids) for key, ids in unindex.items()])
        return deleted

    async def client_indexed(self, client_id: str) -> bool:
        """Whether any grant of ``client_id`` is indexed (it may have no client record)."""
        with GUARD:
            return bool(await self.redis.exists(self.keys.client_index(client_id)))

    async def revoke_client_leftovers(self, client_id: str) -> int:
        """Revoke what an interrupted removal left of ``client_id``, and only that; returns
        keys deleted. For whoever is about to register the id anew.

        Each page of the client's index is read first, then the record checked absent,
        and only then revoked. Nothing is issued without the record (``scripts.ISSUE``), so
        a grant on a page read before a moment without the record was issued to a client
        removed since: a leftover. Once a record exists (another worker registered the id
        meanwhile, and may have issued tokens already), the sweep stops: that worker swept
        the leftovers before it registered, and what is indexed now is the new client's.
        """
        index_key = self.keys.client_index(client_id)
        cursor, deleted = 0, 0
        while True:
            with GUARD:
                cursor, pairs = await self.redis.zscan(index_key, cursor, count=REVOKE_BATCH)
                registered = await self.redis.exists(self.keys.client(client_id))
            batch = list(dict.fromkeys(self.texts([grant_id for grant_id, _ in pairs])))
            if batch and not registered:
                deleted += await self._sweep(index_key, batch)
            if registered or not int(cursor):
                await self.settled()
                return deleted

    async def revoke_user(self, user: str, *, progress: Progress | None = None) -> int:
        """Log a user out everywhere: every grant of theirs goes; returns keys deleted.

        ``progress(done, total)`` is called after each batch of grants.
        """
        return await self._revoke_index(self.keys.user_index(user), progress)

    async def revoke_client_tokens(
        self, client_id: str, *, progress: Progress | None = None
    ) -> int:
        """Every grant issued to (or as) ``client_id`` goes, whether or not the client is still
        registered; returns keys deleted."""
        return await self._revoke_index(self.keys.client_index(client_id), progress)
