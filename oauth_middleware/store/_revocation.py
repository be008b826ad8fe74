"""Revocation: one token, one grant, or every grant of a user or a client (RFC 7009 §2.1,
RFC 9700 §4.14.2).

Every revocation deletes keys in a script (:mod:`._grant_scripts`) and then drops the
grant from its indexes; the local cache forgets the deleted keys at once, and the call
returns only once every worker's cache has heard of it (``Gateway.settled``).

Every deleting script is a durable write: a replica acknowledges it before the call
returns, or the call raises ``StoreNotDurable`` (a 503) with the keys deleted on the
primary all the same, so a revocation answered as done survives a failover. A retry
is idempotent: what is gone stays gone (``_gateway.durability``).
"""

from __future__ import annotations

from typing import Any

from oauth_middleware.limits import REVOKE_BATCH
from oauth_middleware.models import RefreshToken
from oauth_middleware.security import DIGEST_CHARS, digest
from oauth_middleware.store import _grant_scripts as scripts
from oauth_middleware.store._cascade import Taken, cascade_of
from oauth_middleware.store._context import Context, Progress
from oauth_middleware.store._events import Cascade, EventStream, StreamEvent
from oauth_middleware.store._gateway import StoreNotDurable, evalsha, texts
from oauth_middleware.store._sweep import Sweeper
from oauth_middleware.store._tokens import Tokens


class Revocation:
    """Ends grants and tokens, and keeps the user and client indexes in step."""

    def __init__(self, ctx: Context, tokens: Tokens) -> None:
        self._ctx = ctx
        self._events = EventStream(ctx)
        self._gateway = ctx.gateway
        self._keys = ctx.keys
        self._tokens = tokens
        self._sweeper = Sweeper(ctx)
        #: Grants exchanged from a revoked one go with it (RFC 8693, :mod:`._exchange`).
        self.chains = self._sweeper.chains

    async def revoke_token(self, token: str, cascade: Cascade | None = None) -> bool:
        """Revoke one token: an access token alone, a refresh token with its whole grant,
        whether it is the current one or rotated away (RFC 7009 §2.1, RFC 9700 §4.14.2);
        ``cascade`` records the grants exchanged from it."""
        record = await self._tokens.find(token)
        if record is None:
            return False
        if isinstance(record, RefreshToken):
            await self.revoke_grant(record.grant_id, cascade=cascade)
            return True
        return await self.revoke_access(record.grant_id, digest(token), cascade=cascade)

    async def revoke_access(self, grant_id: str, sha_or_fingerprint: str,
                            event: StreamEvent | None = None,
                            cascade: Cascade | None = None) -> bool:
        """Delete one access token of a grant, named by its digest or its fingerprint, and
        record ``event`` with it (:mod:`._events`) when it was there; the grants exchanged
        from it go too, recorded by ``cascade`` or ``event``'s (:mod:`._cascade`).

        A full digest names the key itself, so no member listing is read first."""
        members_key = self._keys.members(grant_id)
        prefix = self._keys.access(grant_id, sha_or_fingerprint)
        if len(sha_or_fingerprint) == DIGEST_CHARS:
            targets = [prefix]
        else:
            members = texts(await self._gateway.one(("SMEMBERS", members_key)))
            targets = [key for key in members if key.startswith(prefix)]
        if len(targets) != 1:
            return False
        keys, script, args = [members_key, targets[0]], scripts.REMOVE_MEMBER, list[str]()
        scripted = self._events.scripted(scripts.REMOVE_MEMBER_EVENTED, event)
        if scripted is not None:
            (script, args), keys = scripted, [*keys, self._events.key]
        try:
            deleted, taken = await self._gateway.run(
                [evalsha(script, keys, args), *self.chains.take([grant_id])],
                script, durable=True)
        except StoreNotDurable as exc:
            await self._events.after(event, _removed(exc.replies[0]), confirmed=False)
            raise
        finally:
            self._gateway.forget(targets[0])
        await self._events.after(event, _removed(deleted))
        await self.chains.revoke_descendants([grant_id], [taken],
                                             cascade_of(event, "exchanged", cascade))
        await self._gateway.settled()
        return bool(deleted)

    async def revoke_grant(self, grant_id: str, event: StreamEvent | None = None,
                           cascade: Cascade | None = None) -> int:
        """Delete every token and code of one grant; returns how many keys went.

        The local cache drops the deleted keys at once: this process's next request
        must not wait for Redis's invalidation message to refuse them. Then the grant
        leaves its user's (or client's own) index and its client's, so it no longer
        counts against the subject's cap (``max_grants_per_user``). ``event`` is recorded
        with the sweep (:mod:`._events`), the grants exchanged from it by ``cascade`` or
        ``event``'s (:mod:`._cascade`).
        """
        evented = self._events.scripted(scripts.SWEEP_GRANT_EVENTED, event)
        try:
            (reply,) = await self._sweeper.swept(
                [self._sweeper.command(grant_id, evented)], [grant_id],
                loads=() if evented is None else (evented[0],))
        except StoreNotDurable:
            await self._events.after(event, 1, confirmed=False)
            raise
        await self._events.after(event, 1)
        client_id, subject, subject_type = texts(reply[:3])
        deleted, taken = reply[3], reply[4]
        self._gateway.forget_all(deleted)
        if client_id:
            await self._gateway.run([
                ("ZREM", key, grant_id)
                for key in self._sweeper.indexes(client_id, subject, subject_type)])
        descendants = await self.chains.revoke_descendants(
            [grant_id], [taken], cascade_of(event, "exchanged", cascade))
        await self._gateway.settled()
        return len(deleted) + descendants

    async def revoke_owned(self, user: str, grant_ids: list[str], client_id: str = "",
                           cascade: Cascade | None = None) -> list[str]:
        """Revoke those of ``grant_ids`` that are ``user``'s own (as a user, and of
        ``client_id`` when given), in one round trip; returns the ids revoked. The grants
        exchanged from them go too, each recorded by ``cascade`` (:mod:`._cascade`).

        Whose a grant is, is decided in the grant's slot by the script that sweeps it
        (``SWEEP_OWNED``), never from what a caller or an index says: an id of someone
        else's grant, posted by a person, revokes nothing and leaves no tombstone.
        """
        k = self._keys
        commands = [evalsha(scripts.SWEEP_OWNED, [k.members(g), k.gone(g)],
                            [scripts.TOMBSTONE_MS, user, client_id]) for g in grant_ids]
        try:
            replies = await self._gateway.run([*commands, *self.chains.take(grant_ids)],
                                              scripts.SWEEP_OWNED, durable=True)
        except StoreNotDurable as exc:
            for reply in exc.replies[:len(grant_ids)]:
                if isinstance(reply, list) and len(reply) == 4:
                    self._gateway.forget_all(reply[3])
            raise
        n = len(grant_ids)
        revoked: list[str] = []
        taken: list[object] = []
        unindex: dict[str, list[str]] = {}
        for grant_id, reply, children in zip(grant_ids, replies[:n], replies[n:], strict=True):
            if isinstance(reply, list):
                self._gateway.forget_all(reply[3])
                revoked.append(grant_id)
                taken.append(children)
                for key in (k.user_index(user), k.client_index(texts(reply[:1])[0])):
                    unindex.setdefault(key, []).append(grant_id)
        if revoked:
            await self._gateway.run([("ZREM", key, *ids) for key, ids in unindex.items()])
            await self.chains.revoke_descendants(revoked, taken,
                                                 cascade_of(None, "exchanged", cascade))
            await self._gateway.settled()
        return revoked

    async def revoke_user(self, user: str, *, progress: Progress | None = None,
                          cascade: Cascade | None = None) -> int:
        """Log a user out everywhere: every grant of theirs goes; returns keys deleted.

        ``progress(done, total)`` is called after each batch of grants; the grants
        exchanged from them (maybe other users' or clients') are recorded by ``cascade``.
        """
        index = self._keys.user_index(user)  # its displaced grants too (``SUBJECT_INDEX``)
        why = cascade_of(None, "exchanged", cascade)
        deleted = await self._revoke_index(self._keys.displaced(index), None, why,
                                           settle=False)
        return deleted + await self._revoke_index(index, progress, why)

    async def revoke_client_tokens(
        self, client_id: str, *, progress: Progress | None = None,
        cascade: Cascade | None = None,
    ) -> int:
        """Every grant issued to (or as) ``client_id`` goes, whether or not the client is still
        registered; returns keys deleted. The grants exchanged from them are recorded by
        ``cascade``."""
        return await self._revoke_index(self._keys.client_index(client_id), progress,
                                        cascade_of(None, "exchanged", cascade))

    async def revoke_client_leftovers(self, client_id: str) -> int:
        """Revoke what an interrupted removal left of ``client_id``, and only that; returns
        keys deleted. For whoever is about to register the id anew.

        Each page of the client's index is read first, then the record checked absent,
        and only then revoked. Nothing is issued without the record (``CLIENT_INDEX``), so a grant
        on a page read before a moment without the record was issued to a client removed
        since: a leftover. Once a record exists (another worker registered the id
        meanwhile, and may have issued tokens already), the sweep stops: that worker swept
        the leftovers before it registered, and what is indexed now is the new client's.
        """
        index_key = self._keys.client_index(client_id)
        cursor, deleted = 0, 0
        while True:
            cursor_raw, flat = await self._gateway.one(
                ("ZSCAN", index_key, cursor, "COUNT", REVOKE_BATCH))
            registered = await self._gateway.one(("EXISTS", self._keys.client(client_id)))
            cursor = int(cursor_raw)
            batch = list(dict.fromkeys(texts(flat[::2])))
            if batch and not registered:
                deleted += await self._sweeper.sweep(index_key, batch)
            if registered or not cursor:
                await self._gateway.settled()
                return deleted

    async def client_indexed(self, client_id: str) -> bool:
        """Whether any grant of ``client_id`` is indexed (it may have no client record)."""
        return bool(await self._gateway.one(("EXISTS", self._keys.client_index(client_id))))

    async def _revoke_index(self, index_key: str, progress: Progress | None,
                            exchanged: Taken | None = None, *, settle: bool = True) -> int:
        """Revoke every grant of an index, one ZSCAN page (about ``REVOKE_BATCH``) per step.

        A full ZSCAN returns every entry present from its start to its end, so each grant
        indexed before the sweep began is reached, however many are added or removed
        meanwhile, and no read returns the whole index at once. Each page is revoked first
        and only then unindexed, so an interrupted run leaves nothing alive that an index
        has forgotten. ``exchanged``: the grants exchanged from them are recorded so.
        """
        total = int(await self._gateway.one(("ZCARD", index_key)))
        cursor, done, deleted = 0, 0, 0
        while True:
            cursor_raw, flat = await self._gateway.one(
                ("ZSCAN", index_key, cursor, "COUNT", REVOKE_BATCH))
            cursor = int(cursor_raw)
            batch = list(dict.fromkeys(texts(flat[::2])))
            if batch:
                deleted += await self._sweeper.sweep(index_key, batch, exchanged=exchanged)
                done += len(batch)
                if progress is not None:
                    progress(min(done, total), total)
            if not cursor:
                if settle:
                    await self._gateway.settled()
                return deleted



def _removed(reply: Any) -> int:
    """``REMOVE_MEMBER``'s reply as an event's outcome: 1 when the token was there."""
    return 1 if int(reply) == 1 else 0
