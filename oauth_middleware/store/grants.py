"""Single-use grants: codes and refresh rotation (RFC 6749 §4.1, §6; RFC 9700 §4.14).

Redeeming a code and rotating a refresh token are one compare-and-set script:
of any number of concurrent attempts exactly one wins. An attempt that finds the
value already consumed revokes the whole grant, because a second use means the
value leaked (RFC 6749 §4.1.2, RFC 9700 §4.14.2).
"""

from __future__ import annotations

from dataclasses import replace

from oauth_middleware.models import AuthorizationCode, IssuedTokens, RefreshToken
from oauth_middleware.security import FINGERPRINT_CHARS, digest, grant_id_of, new_grant_id
from oauth_middleware.store import scripts
from oauth_middleware.store.codec import dump, load
from oauth_middleware.store.connection import GUARD
from oauth_middleware.store.writer import GrantWriter, NewTokens

#: Seconds an authorization code lives (RFC 6749 §4.1.2: at most 10 minutes).
CODE_LIFETIME = 120
MAX_CODE_LIFETIME = 600


class GrantMixin(GrantWriter):
    async def create_code(
        self, code: AuthorizationCode, *, lifetime: int = CODE_LIFETIME
    ) -> str:
        """Store a new code; its grant id, times and fingerprint are set here."""
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
        await self.write_members(grant_id, record.subject, "user", record.client_id, [member])
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
        return await self._consume(key, dump(record), dump(replace(record, used=True)),
                                   record.grant_id, spec)

    async def get_refresh(self, token: str) -> RefreshToken | None:
        """A refresh token's record, rotated or not; None when unknown or expired."""
        grant_id = grant_id_of(token)
        if grant_id is None:
            return None
        with GUARD:
            raw = await self.redis.get(self.keys.refresh(grant_id, digest(token)))
        record = None if raw is None else load(RefreshToken, raw)
        if record is None or (record.expires_at is not None and record.expires_at <= self.clock()):
            return None
        return record

    async def rotate_refresh(
        self, token: str, record: RefreshToken, spec: NewTokens
    ) -> IssuedTokens | None:
        """Retire ``token`` and issue a new pair in the same grant; None when it was
        already rotated by a concurrent request (the grant is then revoked) or is gone."""
        key = self.keys.refresh(record.grant_id, digest(token))
        return await self._consume(key, dump(record), dump(replace(record, rotated=True)),
                                   record.grant_id, spec)

    async def _consume(
        self, key: str, expected: str, consumed: str, grant_id: str, spec: NewTokens
    ) -> IssuedTokens | None:
        issued, members = self.mint(grant_id, spec)
        keys, args = self.flatten(members)
        commands = self.index_commands(grant_id, spec.subject, spec.subject_type, spec.client_id,
                                       members)
        commands.append(self.evalsha(scripts.CONSUME_AND_ISSUE,
                                     [key, self.keys.members(grant_id), *keys],
                                     [expected, consumed, *args]))
        *_, outcome = await self.run(commands, scripts.INDEX_ADD, scripts.CONSUME_AND_ISSUE)
        if isinstance(outcome, list):  # a replay: the script revoked the grant, these keys
            self.forget_all(outcome)
            await self.settled()
            return None
        return issued if int(outcome) == 1 else None

