"""Grants: issuing, single-use codes and refresh rotation (RFC 6749 §4.1, §6; RFC 9700 §4.14).

Issuing writes a grant's members and its index entries in one round trip (a script
per hash tag), while its client stands.
Redeeming a code and rotating a refresh token are one script each,
deciding on a state field of the stored record (a code's ``used``, the refresh
record's current ``digest``): of any number of concurrent attempts exactly one
wins. An attempt that finds the value already consumed revokes the whole grant,
because a second use means the value leaked (RFC 6749 §4.1.2, RFC 9700 §4.14.2).

Redemption and rotation are durable writes: a replica acknowledges them before they
return, or they raise ``StoreNotDurable`` (a 503) though the code is then used, or
the refresh token retired, on the primary (``_gateway.durability``). Issuing a new
grant is not: lost to a failover, its tokens simply stop working (a refusal, never
a credential that should be dead coming back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from oauth_middleware.limits import (
    CODE_LIFETIME,
    GRANT_ACCESS_TOKENS,
    ISSUE_EVICTIONS,
    check_code_lifetime,
)
from oauth_middleware.models import AuthorizationCode, IssuedTokens, RefreshToken
from oauth_middleware.security import (
    FINGERPRINT_CHARS,
    constant_time_equals,
    digest,
    new_grant_id,
)
from oauth_middleware.store import _grant_scripts as scripts
from oauth_middleware.store._cascade import Gone, cascade_of, gone_of
from oauth_middleware.store._codec import dump
from oauth_middleware.store._context import Context, ttl_ms
from oauth_middleware.store._events import Evented, EventStream, StreamEvent
from oauth_middleware.store._gateway import Command, Script, StoreNotDurable, evalsha, texts
from oauth_middleware.store._minting import (
    ClientRemoved,
    Generation,
    Member,
    NewTokens,
    flatten,
    index_ttl,
    minted,
    new_value,
)
from oauth_middleware.store._sweep import Sweeper
from oauth_middleware.store.keys import NEVER_MS

#: The command to run right after a new grant is written, given its grant id.
Then = Callable[[str], Command]


class Grants:
    """Writes grants; each one's keys share its hash tag (see :mod:`.keys`)."""

    def __init__(self, ctx: Context, *, max_grants_per_user: int,
                 max_grants_per_client: int) -> None:
        self._ctx = ctx
        self._gateway = ctx.gateway
        self._keys = ctx.keys
        self._sweeper = Sweeper(ctx)
        self._chains = self._sweeper.chains
        self._events = EventStream(ctx)
        self.max_grants_per_user = max_grants_per_user
        self.max_grants_per_client = max_grants_per_client

    async def issue(self, spec: NewTokens) -> IssuedTokens:
        """Start a new grant and store its tokens (:class:`ClientRemoved`: the client is gone)."""
        issued, _ = await self.issue_then(spec, None)
        return issued

    async def issue_then(self, spec: NewTokens, then: Then | None, *loads: Script
                         ) -> tuple[IssuedTokens, Any]:
        """:meth:`issue`, and in the same pipeline, after it, the command ``then(grant_id)``
        (whose script ``loads`` may need loading); returns its reply too. The command must be
        safe to resend: a pipeline whose script Redis had not loaded is sent again. Unlike a
        lone issue, the pair is a durable write (``_gateway.durability``): what ``then``
        records (a link that revocation follows) must survive a failover with the grant."""
        grant_id = new_grant_id()
        if _acts_for_itself(spec.client_id, spec.subject, spec.subject_type):
            grant_id = self._gateway.new_id_near(self._keys.client(spec.client_id),
                                                 new_grant_id)
        issued, members = await minted(self._ctx, grant_id, spec)
        after = await self._write(grant_id, members, client_id=spec.client_id,
                                  subject=spec.subject, subject_type=spec.subject_type,
                                  generation=spec.client_generation,
                                  then=None if then is None else then(grant_id), loads=loads,
                                  event=_stamped(spec.event, grant_id, issued))
        return issued, after

    async def create_code(
        self, code: AuthorizationCode, *, lifetime: int = CODE_LIFETIME,
        client_generation: str | None = None, event: StreamEvent | None = None,
    ) -> str:
        """Store a new code; its grant id, times and fingerprint are set here.

        ``client_generation``: as for ``NewTokens`` (:class:`ClientRemoved` when it is gone);
        ``event``: written with the code (:mod:`._events`), with its grant and fingerprint.
        """
        check_code_lifetime(lifetime)
        grant_id = new_grant_id()
        value, sha = new_value(grant_id)
        now = self._ctx.clock()
        record = replace(
            code, grant_id=grant_id, issued_at=now, expires_at=now + lifetime,
            fingerprint=sha[:FINGERPRINT_CHARS], used=False,
        )
        member = (self._keys.code(grant_id, sha), dump(record), ttl_ms(lifetime))
        await self._write(grant_id, [member], client_id=record.client_id,
                          subject=record.subject, subject_type="user",
                          generation=client_generation,
                          event=None if event is None else event.stamped(
                              grant_id, record.fingerprint))
        return value

    async def redeem_code(
        self, code: str, record: AuthorizationCode, spec: NewTokens
    ) -> IssuedTokens | None:
        """Consume an unused code and issue its tokens; None when another attempt won
        (the grant is then revoked) or the code is gone."""
        key = self._keys.code(record.grant_id, digest(code))
        return await self._consume(key, "used", dump(replace(record, used=True)),
                                   record.grant_id, spec, record.fingerprint)

    async def rotate_refresh(
        self, token: str, record: RefreshToken, spec: NewTokens
    ) -> IssuedTokens | None:
        """Retire ``token`` (read as current: ``record``) and issue a new pair in the same
        grant; None when a concurrent request rotated it first (the grant is then revoked)
        or it is gone. Without ``spec.refresh`` the grant's next refresh token is minted
        and kept from the client, which retires ``token`` all the same."""
        sha = digest(token)
        if not record.digest:  # schema 0: the token's own record, consumed like a code
            key = self._keys.legacy_refresh(record.grant_id, sha)
            return await self._consume(key, "rotated", dump(replace(record, rotated=True)),
                                       record.grant_id, spec, record.fingerprint)
        if record.rotated or not constant_time_equals(sha, record.digest):
            raise ValueError("rotate_refresh needs the token's current record (read_for)")
        grant_id = record.grant_id
        issued, members = await minted(self._ctx, grant_id, replace(spec, refresh=True),
                               Generation(record.seal_key, record.generation + 1))
        (at_key, at_value, at_ttl), (rt_key, rt_value, rt_ttl) = members
        commands = self._index_commands(grant_id, spec, members)
        script, keys, args = self._with_event(
            scripts.ROTATE_REFRESH, scripts.ROTATE_REFRESH_EVENTED,
            [rt_key, self._keys.members(grant_id), at_key],
            [sha, rt_value, rt_ttl, at_value, at_ttl, self._keys.access(grant_id, ""),
             GRANT_ACCESS_TOKENS],
            event := _stamped(spec.event, grant_id, issued, record.fingerprint))
        commands.append(evalsha(script, keys, args))
        try:
            *_, (status, *deleted) = await self._gateway.run(commands, scripts.INDEX_ADD,
                                                             script, durable=True)
        except StoreNotDurable as exc:
            await self._events.after(event, int(exc.replies[-1][0]), confirmed=False)
            raise
        self._gateway.forget_all(deleted)
        await self._events.after(event, int(status))
        if int(status) == 2:  # a replay revoked the grant: what was exchanged from it goes
            await self._revoke_exchanged(grant_id, event)
        if deleted:  # a replay revoked the grant, or the bound evicted access tokens
            await self._gateway.settled()
        if int(status) != 1:
            return None
        return issued if spec.refresh else replace(issued, refresh_token=None)

    async def _consume(
        self, key: str, state: str, consumed: str, grant_id: str, spec: NewTokens,
        presented: str,
    ) -> IssuedTokens | None:
        """Single use by the record's boolean ``state`` field (``CONSUME_AND_ISSUE``)."""
        issued, members = await minted(self._ctx, grant_id, spec)
        keys, args = flatten(members)
        commands = self._index_commands(grant_id, spec, members)
        script, keys, args = self._with_event(
            scripts.CONSUME_AND_ISSUE, scripts.CONSUME_AND_ISSUE_EVENTED,
            [key, self._keys.members(grant_id), *keys], [state, consumed, *args],
            event := _stamped(spec.event, grant_id, issued, presented))
        commands.append(evalsha(script, keys, args))
        try:
            *_, outcome = await self._gateway.run(commands, scripts.INDEX_ADD, script,
                                                  durable=True)
        except StoreNotDurable as exc:
            await self._events.after(event, _consumed(exc.replies[-1]), confirmed=False)
            raise
        await self._events.after(event, _consumed(outcome))
        if isinstance(outcome, list):  # a replay: the script revoked the grant, these keys
            self._gateway.forget_all(outcome)
            await self._revoke_exchanged(grant_id, event)
            await self._gateway.settled()
            return None
        return issued if int(outcome) == 1 else None

    async def _revoke_exchanged(self, grant_id: str, event: StreamEvent | None) -> None:
        """After a script revoked ``grant_id`` (its tokens are gone, so no exchange links
        under it any more): the grants exchanged from it go too (:mod:`._exchange`),
        recorded as gone with ``event``'s change."""
        taken = await self._gateway.run(self._chains.take([grant_id]))
        await self._chains.revoke_descendants([grant_id], taken,
                                              cascade_of(event, "exchanged"))

    def _with_event(self, plain: Script, evented: Evented, keys: list[str], args: list[Any],
                    event: StreamEvent | None) -> tuple[Script, list[str], list[Any]]:
        """``plain``, or on one server ``evented``'s form for the event, with the event's
        stream and arguments after its own (a cluster appends the event after the answer:
        ``EventStream.after``)."""
        scripted = self._events.scripted(evented, event)
        if scripted is None:
            return plain, keys, args
        script, more = scripted
        return script, [*keys, self._events.key], [*args, *more]

    def _index_commands(self, grant_id: str, spec: NewTokens, members: list[Member]
                        ) -> list[Command]:
        """Index updates so revoke-user and revoke-client find this grant."""
        ttl = index_ttl(members)
        keys = {self._keys.subject_index(spec.subject, spec.subject_type),
                self._keys.client_index(spec.client_id)}
        return [evalsha(scripts.INDEX_ADD, [key], [grant_id, ttl, NEVER_MS])
                for key in sorted(keys)]

    async def _write(
        self, grant_id: str, members: list[Member], *, client_id: str, subject: str,
        subject_type: str, generation: str | None, then: Command | None = None,
        loads: tuple[Script, ...] = (), event: StreamEvent | None = None,
    ) -> Any:
        """Write a new grant and its index entries, while its client stands; ``then`` (a
        command of another grant's, :meth:`issue_then`) goes in the same round trip, after
        them, and its reply is returned.

        Three scripts of three hash tags in one round trip on a cluster (:mod:`.keys`; two
        when the subject is the client itself, whose indexes share its tag; one, ``ISSUE``,
        on a single node, where every key is on one server): the grant's
        members (refused once a sweep left its tombstone), its client's index entry (only
        while the client record has ``generation``; None: not checked) and its subject's,
        which displaces the subject's earliest-expiring grants past the cap
        (``max_grants_per_user``, ``max_grants_per_client``): those are revoked by ``ISSUE``
        itself on a single node, swept after it on a cluster (one more round trip; a user's
        also leave their displaced set and client index in one more, a client's own leave
        its index in its next issue's ``INDEXES``, :mod:`._sweep`), and the local cache
        drops their keys at once.
        :class:`ClientRemoved` when the client is gone or registered anew, or a sweep got
        to the grant first: whatever was written of it is revoked before that is raised.
        """
        keys, args = flatten(members)
        k = self._keys
        ttl = index_ttl(members)
        subject_index = k.subject_index(subject, subject_type)
        check = ["0", ""] if generation is None else ["1", generation]
        cap = self.max_grants_per_client if subject_type == "client" else self.max_grants_per_user
        grant_keys = [k.members(grant_id), k.gone(grant_id)]
        client_keys = [k.client(client_id), k.client_index(client_id)]
        subject_keys = [subject_index, k.displaced(subject_index)]
        follow = [] if then is None else [then]
        durable = then is not None
        displacing = cascade_of(event, "displaced")
        if not self._gateway.cluster:  # one server: the three steps as one script
            issue_keys = [*grant_keys, *client_keys, subject_index, *keys]
            issue_args = [*check, grant_id, ttl, NEVER_MS, cap, ISSUE_EVICTIONS, *k.heads,
                          *args]
            if event is not None and displacing is not None:  # the displaced grants' too
                issue, stream, more = scripts.ISSUE_CASCADED.call_with(
                    event, displacing, self._sweeper.cascades)
                issue_keys, issue_args = [*issue_keys, *stream], [*issue_args, *more]
            else:
                issue, issue_keys, issue_args = self._with_event(
                    scripts.ISSUE, scripts.ISSUE_EVENTED, issue_keys, issue_args, event)
            try:
                (written, indexed, deleted, displaced, taken, gone), *after = (
                    await self._gateway.run([evalsha(issue, issue_keys, issue_args),
                                             *follow], issue, *loads, durable=durable))
            except StoreNotDurable as exc:  # done on the primary: told, as unconfirmed
                written, indexed, deleted, displaced, _, gone = exc.replies[0]
                self._gateway.forget_all(deleted)
                await self._sweeper.cascades.after(displacing, _displaced(displaced, gone),
                                                   confirmed=False)
                await self._events.after(event, _issued(written, indexed), confirmed=False)
                raise
            if displaced:  # revoked by the script; what was exchanged from them goes too
                self._gateway.forget_all(deleted)
                await self._sweeper.cascades.after(displacing, _displaced(displaced, gone))
                if any(taken):
                    await self._chains.revoke_descendants(
                        texts(displaced), taken, cascade_of(event, "exchanged"))
                await self._gateway.settled()
        else:
            own = _acts_for_itself(client_id, subject, subject_type)
            try:
                written, indexed, displaced, after = await self._write_cluster(
                    [*grant_keys, *keys], args, client_keys,
                    [subject_index] if own else [subject_index, k.displaced(subject_index)],
                    [*check, grant_id, ttl, NEVER_MS], [cap, ISSUE_EVICTIONS], own=own,
                    follow=follow, loads=loads)
            except StoreNotDurable as exc:  # done on the primaries: told, as unconfirmed
                written, indexed = exc.replies[0], exc.replies[1]
                if own:
                    indexed = indexed[0]
                await self._events.after(event, _issued(written, indexed), confirmed=False)
                raise
            if displaced:  # out of the subject's index: revoked, then out of the rest
                await self._sweeper.sweep(client_keys[1] if own else subject_keys[1],
                                          texts(displaced), durable=False, displaced=True,
                                          why=displacing, later=own)
                await self._gateway.settled()
        if not _issued(written, indexed):
            await self._sweeper.sweep(subject_index, [grant_id], durable=False)
            raise ClientRemoved(f"client {client_id!r} is no longer registered")
        await self._events.after(event, 1)
        return after[0] if after else None

    async def _write_cluster(
        self, grant: list[str], args: list[Any], client_keys: list[str],
        subject_keys: list[str], index_args: list[Any], cap_args: list[Any], *, own: bool,
        follow: list[Command], loads: tuple[Script, ...],
    ) -> tuple[Any, Any, Any, list[Any]]:
        """:meth:`_write`'s scripts on a cluster, one per hash tag, in one round trip (two
        when the subject is the client itself, whose indexes share its tag: ``INDEXES``);
        returns written, indexed, the displaced grant ids and the replies of ``follow``."""
        durable = bool(follow)
        if own:
            swept = self._sweeper.unindexed(client_keys[1])
            written, (indexed, displaced), *after = await self._gateway.run([
                evalsha(scripts.WRITE_GRANT, grant, args),
                evalsha(scripts.INDEXES, [*client_keys, *subject_keys],
                        [*index_args, *cap_args, *swept]), *follow,
            ], scripts.WRITE_GRANT, scripts.INDEXES, *loads, durable=durable)
        else:
            written, indexed, displaced, *after = await self._gateway.run([
                evalsha(scripts.WRITE_GRANT, grant, args),
                evalsha(scripts.CLIENT_INDEX, client_keys, index_args),
                evalsha(scripts.SUBJECT_INDEX, subject_keys, [*index_args[2:], *cap_args]),
                *follow,
            ], scripts.WRITE_GRANT, scripts.CLIENT_INDEX, scripts.SUBJECT_INDEX, *loads,
                durable=durable)
        return written, indexed, displaced, after


def _acts_for_itself(client_id: str, subject: str, subject_type: str) -> bool:
    """A client's own grant (client credentials): both its indexes under the client's tag,
    and on a cluster its grant placed on the client's node (:mod:`.keys` says why only
    these grants)."""
    return subject_type == "client" and subject == client_id


def _issued(written: Any, indexed: Any) -> int:
    """The issuing scripts' replies as an event's outcome: 1 when the grant was written and
    indexed (its client stood), else 0."""
    return 1 if int(written) and int(indexed) else 0


def _displaced(displaced: Any, gone: Any) -> list[Gone]:
    """The grants ``ISSUE`` displaced past the cap: their ids, and whose each was."""
    return gone_of(texts(displaced), [whose[1:] for whose in gone])


def _consumed(reply: Any) -> int:
    """``CONSUME_AND_ISSUE``'s reply as an event's outcome: 1 won, 2 a replay (the list of
    the keys it revoked), 0 gone."""
    return 2 if isinstance(reply, list) else int(reply)


def _stamped(event: StreamEvent | None, grant_id: str, issued: IssuedTokens,
             presented: str = "") -> StreamEvent | None:
    """``event`` with what only the store knows: the grant, the new access token's
    fingerprint and that of the value presented (never a token)."""
    if event is None:
        return None
    return event.stamped(grant_id, issued.token.fingerprint, presented)
