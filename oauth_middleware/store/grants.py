"""Single-use grants: codes and refresh rotation (RFC 6749 §4.1, §6; RFC 9700 §4.14).

Redeeming a code and rotating a refresh token are one script each, deciding on a
state field of the stored record (a code's ``used``, the refresh record's current
``digest``): of any number of concurrent attempts exactly one wins. An attempt
that finds the value already consumed revokes the whole grant, because a second
use means the value leaked (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
"""

from __future__ import annotations

from dataclasses import replace

from oauth_middleware.models import AuthorizationCode, IssuedTokens, RefreshToken
from oauth_middleware.security import (
    FINGERPRINT_CHARS,
    constant_time_equals,
    digest,
    grant_id_of,
    new_grant_id,
)
from oauth_middleware.store import scripts
from oauth_middleware.store.codec import dump, load
from oauth_middleware.store.connection import GUARD
from oauth_middleware.store.generations import presented_refresh, refresh_keys
from oauth_middleware.store.writer import Generation, GrantWriter, NewTokens

#: Seconds an authorization code lives (RFC 6749 §4.1.2: at most 10 minutes).
CODE_LIFETIME = 120
MAX_CODE_LIFETIME = 600


class GrantMixin(GrantWriter):
    async def create_code(
        self, code: AuthorizationCode, *, lifetime: int = CODE_LIFETIME,
        client_generation: str | None = None,
    ) -> str:
        """Store a new code; its grant id, times and fingerprint are set here.

        ``client_generation``: as for ``NewTokens`` (:class:`ClientRemoved` when it is gone).
        """
        if not 0 < lifetime <= MAX_CODE_LIFETIME:
            raise ValueError("an authorization code lifetime must be 1 to 600 seconds")
        grant_id = new_grant_id()
        value, sha = self._new_value(grant_id)
        now = self.clock()
        record = replace(
            code, grant_id=grant_id, issued_at=now, expires_at=now + lifetime,
            fingerprint=sha[:FINGERPRINT_CHARS], used=False,
        )
        member = (self.keys.code(grant_id, sha), dump(record), self.ttl_ms(lifetime))
        await self.write_members(grant_id, [member], client_id=record.client_id,
                                 subject=record.subject, subject_type="user",
                                 generation=client_generation)
        return value

    async def get_code(self, code: str) -> AuthorizationCode | None:
        """The code's record, used or not; None when unknown or expired."""
        grant_id = grant_id_of(code)
        if grant_id is None:
            return None
        with GUARD:
            raw = await self.redis.get(self.keys.code(grant_id, digest(code)))
        record = None if raw is None else load(AuthorizationCode, raw)
        if record is None or record.expires_at <= self.clock():
            return None
        return record

    async def redeem_code(
        self, code: str, record: AuthorizationCode, spec: NewTokens
    ) -> IssuedTokens | None:
        """Consume an unused code and issue its tokens; None when another attempt won
        (the grant is then revoked) or the code is gone."""
        key = self.keys.code(record.grant_id, digest(code))
        return await self._consume(key, "used", dump(replace(record, used=True)),
                                   record.grant_id, spec)

    async def get_refresh(self, token: str) -> RefreshToken | None:
        """A refresh token's record, ``rotated`` when it is an earlier generation of its
        grant; None when unknown or expired (see :mod:`.generations`)."""
        grant_id = grant_id_of(token)
        if grant_id is None:
            return None
        with GUARD:
            current, legacy = await self.redis.mget(*refresh_keys(self.keys, grant_id, token))
        return presented_refresh(token, current, legacy, self.clock())

    async def rotate_refresh(
        self, token: str, record: RefreshToken, spec: NewTokens
    ) -> IssuedTokens | None:
        """Retire ``token`` (read as current: ``record``) and issue a new pair in the same
        grant; None when a concurrent request rotated it first (the grant is then revoked)
        or it is gone. Without ``spec.refresh`` the grant's next refresh token is minted
        and kept from the client, which retires ``token`` all the same."""
        sha = digest(token)
        if not record.digest:  # schema 0: the token's own record, consumed like a code
            key = self.keys.legacy_refresh(record.grant_id, sha)
            return await self._consume(key, "rotated", dump(replace(record, rotated=True)),
                                       record.grant_id, spec)
        if record.rotated or not constant_time_equals(sha, record.digest):
            raise ValueError("rotate_refresh needs the token's current record (get_refresh)")
        grant_id = record.grant_id
        issued, members = self.mint(grant_id, replace(spec, refresh=True),
                                    Generation(record.seal_key, record.generation + 1))
        (at_key, at_value, at_ttl), (rt_key, rt_value, rt_ttl) = members
        commands = self.index_commands(grant_id, spec.subject, spec.subject_type, spec.client_id,
                                       members)
        commands.append(self.evalsha(
            scripts.ROTATE_REFRESH, [rt_key, self.keys.members(grant_id), at_key],
            [sha, rt_value, rt_ttl, at_value, at_ttl, self.keys.access(grant_id, ""),
             scripts.GRANT_ACCESS_TOKENS]))
        *_, (status, *deleted) = await self.run(commands, scripts.INDEX_ADD,
                                                scripts.ROTATE_REFRESH)
        self.forget_all(deleted)
        if deleted:  # a replay revoked the grant, or the bound evicted access tokens
            await self.settled()
        if int(status) != 1:
            return None
        return issued if spec.refresh else replace(issued, refresh_token=None)

    async def _consume(
        self, key: str, state: str, consumed: str, grant_id: str, spec: NewTokens
    ) -> IssuedTokens | None:
        """Single use by the record's boolean ``state`` field (``scripts.CONSUME_AND_ISSUE``)."""
        issued, members = self.mint(grant_id, spec)
        keys, args = self.flatten(members)
        commands = self.index_commands(grant_id, spec.subject, spec.subject_type, spec.client_id,
                                       members)
        commands.append(self.evalsha(scripts.CONSUME_AND_ISSUE,
                                     [key, self.keys.members(grant_id), *keys],
                                     [state, consumed, *args]))
        *_, outcome = await self.run(commands, scripts.INDEX_ADD, scripts.CONSUME_AND_ISSUE)
        if isinstance(outcome, list):  # a replay: the script revoked the grant, these keys
            self.forget_all(outcome)
            await self.settled()
            return None
        return issued if int(outcome) == 1 else None
