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
from oauth_middleware.store.writer import GrantWriter, NewTokens

#: Grants revoked per round trip by ``revoke_user`` and ``revoke_client_tokens``.
REVOKE_BATCH = 500


class TokenMixin(GrantWriter):
    async def issue(self, spec: NewTokens) -> IssuedTokens:
        """Start a new grant and store its tokens."""
        grant_id = new_grant_id()
        issued, members = self.mint(grant_id, spec)
        await self.write_members(
            grant_id, spec.subject, spec.subject_type, spec.client_id, members
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
        grant_id = grant_id_of(token)
        if grant_id is None:
            return None
        sha = digest(token)
        with GUARD:
            at, rt = await self.redis.mget(
                self.keys.access(grant_id, sha), self.keys.refresh(grant_id, sha)
            )
        return live_token(at, rt, self.clock())

    async def revoke_token(self, token: str) -> bool:
        """Revoke one token: an access token alone, a refresh token with its whole grant."""
        record = await self.lookup(token)
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
        """Revoke every grant in an index, ``REVOKE_BATCH`` grants per round trip.

        Each batch is revoked first and only then removed from the index, so an
        interrupted run leaves nothing alive that the index has forgotten.
        """
        with GUARD:
            grant_ids = self.texts(list(await self.redis.zrange(index_key, 0, -1)))
        deleted = 0
        for start in range(0, len(grant_ids), REVOKE_BATCH):
            batch = grant_ids[start:start + REVOKE_BATCH]
            deleted += await self._revoke_batch(batch)
            with GUARD:
                await self.redis.zrem(index_key, *batch)
            if progress is not None:
                progress(start + len(batch), len(grant_ids))
        await self.settled()
        return deleted

    async def _revoke_batch(self, grant_ids: list[str]) -> int:
        """Revoke ``grant_ids`` in one round trip; the local cache drops their keys at once."""
        commands = [self.evalsha(scripts.REVOKE_GRANT, [self.keys.members(grant_id)], [])
                    for grant_id in grant_ids]
        replies = await self.run(commands, scripts.REVOKE_GRANT)
        for deleted in replies:
            self.forget_all(deleted)
        return sum(len(deleted) for deleted in replies)

    async def revoke_user(self, user: str, *, progress: Progress | None = None) -> int:
        """Log a user out everywhere: every grant of theirs goes; returns keys deleted.

        ``progress(done, total)`` is called after each batch of grants.
        """
        return await self._revoke_index(self.keys.user_index(user), progress)

    async def revoke_client_tokens(
        self, client_id: str, *, progress: Progress | None = None
    ) -> int:
        """Every grant issued to (or as) ``client_id`` goes; returns keys deleted."""
        return await self._revoke_index(self.keys.client_index(client_id), progress)
