"""Minting and writing the members of a grant (the token family, RFC 6749 §10.4).

Every token and code belongs to a grant: the grant id is the public half of the
value and the Redis hash tag of every key of that grant, so one Lua script can
redeem, rotate or revoke a family atomically within one cluster slot. The
index entries written alongside live in other slots (see :mod:`.keys`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oauth_middleware.models import AccessToken, IssuedTokens, RefreshToken, SubjectType
from oauth_middleware.security import (
    FINGERPRINT_CHARS,
    digest,
    new_refresh_token,
    new_seal_key,
    new_token,
)
from oauth_middleware.store import scripts
from oauth_middleware.store.base import StoreBase
from oauth_middleware.store.codec import dump, dump_access
from oauth_middleware.store.keys import NEVER_MS
from oauth_middleware.store.pipelines import Command

#: Seconds a refresh token lives unless the caller says otherwise (30 days).
REFRESH_LIFETIME = 30 * 24 * 3600
#: Longest lifetime in seconds of a token, ten years; ``None`` is the way to say "never".
#: Longer ones are refused, not shortened: 10**20 seconds is a typo, and its expiry in
#: milliseconds is past what Redis accepts for PX and PEXPIREAT, so writing it would fail
#: every later grant of the same user or client index (see ``scripts.INDEX_ADD``).
MAX_LIFETIME = 10 * 365 * 24 * 3600

#: A grant member waiting to be written: key, value, TTL in ms (0 = never).
Member = tuple[str, str, int]


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTokens:
    """What to issue: for whom, to which client, with which scopes, for how long."""

    client_id: str
    subject: str
    subject_type: SubjectType = "user"
    scopes: frozenset[str] = frozenset()
    #: Access token lifetime in seconds; None for a token that never expires.
    lifetime: int | None = 3600
    refresh: bool = False
    refresh_lifetime: int | None = REFRESH_LIFETIME
    #: Scopes a refresh token may ask for later (RFC 6749 §6); defaults to ``scopes``.
    grant_scopes: frozenset[str] | None = None
    #: ``Client.generation`` of the client as authenticated: nothing is issued unless that
    #: registration still stands (:class:`ClientRemoved`). None skips the check, for tokens
    #: of no registered client (tests, tooling).
    client_generation: str | None = None


class ClientRemoved(LookupError):
    """The client was removed, or registered anew, since the issuer read it: nothing was
    issued (its removal may already have swept every grant it had)."""


@dataclass(frozen=True, slots=True)
class Generation:
    """Where a new refresh token stands in its grant: the grant's sealing key and the
    token's generation (a new grant starts at 1 with a new key; a rotation adds one)."""

    seal_key: str = field(repr=False)
    number: int = 1


def check_lifetime(seconds: float | None, what: str) -> None:
    """``ValueError`` unless ``seconds`` is None (never) or 0 < seconds <= MAX_LIFETIME."""
    if seconds is not None and not 0 < seconds <= MAX_LIFETIME:
        raise ValueError(f"{what} must be a positive number of seconds up to {MAX_LIFETIME} "
                         "(ten years), or None for never")


class GrantWriter(StoreBase):
    def mint(
        self, grant_id: str, spec: NewTokens, generation: Generation | None = None
    ) -> tuple[IssuedTokens, list[Member]]:
        """Create raw tokens and their records; nothing is written yet. A refresh token
        is ``generation`` of its grant, or the first of a new one.

        Every grant's tokens pass here first, so an out-of-range lifetime is refused
        (``ValueError``) before anything reaches Redis.
        """
        check_lifetime(spec.lifetime, "an access token lifetime")
        if spec.refresh:
            check_lifetime(spec.refresh_lifetime, "a refresh token lifetime")
        now = self.clock()
        access, sha = self._new_value(grant_id)
        record = AccessToken(
            grant_id=grant_id, client_id=spec.client_id, subject=spec.subject,
            subject_type=spec.subject_type, scopes=spec.scopes, issued_at=now,
            expires_at=None if spec.lifetime is None else now + spec.lifetime,
            fingerprint=sha[:FINGERPRINT_CHARS],
        )
        members = [(self.keys.access(grant_id, sha), dump_access(record),
                    self.ttl_ms(spec.lifetime))]
        if not spec.refresh:
            return IssuedTokens(access_token=access, token=record), members
        generation = generation or Generation(new_seal_key())
        refresh = new_refresh_token(grant_id, generation.seal_key)
        rsha = digest(refresh)
        rrecord = RefreshToken(
            grant_id=grant_id, client_id=spec.client_id, subject=spec.subject,
            subject_type=spec.subject_type, scopes=spec.grant_scopes or spec.scopes,
            issued_at=now, fingerprint=rsha[:FINGERPRINT_CHARS],
            expires_at=None if spec.refresh_lifetime is None else now + spec.refresh_lifetime,
            digest=rsha, generation=generation.number, seal_key=generation.seal_key,
        )
        ttl = self.ttl_ms(spec.refresh_lifetime)
        members.append((self.keys.refresh(grant_id), dump(rrecord), ttl))
        issued = IssuedTokens(access_token=access, token=record, refresh_token=refresh)
        return issued, members

    @staticmethod
    def _new_value(grant_id: str) -> tuple[str, str]:
        value = new_token(grant_id)
        return value, digest(value)

    def index_commands(
        self, grant_id: str, subject: str, subject_type: str, client_id: str,
        members: list[Member],
    ) -> list[Command]:
        """Index updates so revoke-user and revoke-client find this grant."""
        ttl = self._index_ttl(members)
        keys = {self.keys.subject_index(subject, subject_type), self.keys.client_index(client_id)}
        return [self.evalsha(scripts.INDEX_ADD, [key], [grant_id, ttl, NEVER_MS])
                for key in sorted(keys)]

    @staticmethod
    def _index_ttl(members: list[Member]) -> int:
        """The grant's index TTL: its longest-lived member's (ms, 0 = never). A TTL, not an
        expiry: the script adds Redis's clock, the one the members expire by, not this
        process's (which may run ahead of other hosts', see ``scripts.INDEX_ADD``)."""
        ttls = [ttl for _, _, ttl in members]
        return 0 if 0 in ttls else max(ttls)

    @staticmethod
    def flatten(members: list[Member]) -> tuple[list[str], list[Any]]:
        """Script arguments for members: their keys, and value/ttl pairs."""
        args: list[Any] = []
        for _, value, ttl in members:
            args += [value, ttl]
        return [key for key, _, _ in members], args

    async def write_members(
        self, grant_id: str, members: list[Member], *, client_id: str, subject: str,
        subject_type: str, generation: str | None,
    ) -> None:
        """Write a new grant and its index entries in one script, while its client stands.

        :class:`ClientRemoved` when ``client_id`` is gone or registered anew (``generation``
        differs; None: not checked). A removal deletes the client record before it sweeps
        the index, so a new grant is either indexed before that, and swept, or refused.
        Past the subject's cap (``max_grants_per_user``, ``max_grants_per_client``) the
        same script revokes the subject's grants that expire first; the local cache drops
        their keys at once, as for any revocation.
        """
        keys, args = self.flatten(members)
        script_keys = [self.keys.client(client_id), self.keys.members(grant_id),
                       self.keys.subject_index(subject, subject_type),
                       self.keys.client_index(client_id), *keys]
        check = ["0", ""] if generation is None else ["1", generation]
        cap = self.max_grants_per_client if subject_type == "client" else self.max_grants_per_user
        (reply,) = await self.run([self.evalsha(scripts.ISSUE, script_keys, [
            *check, grant_id, self._index_ttl(members), NEVER_MS, cap, scripts.ISSUE_EVICTIONS,
            self.keys.members_head, self.keys.client_index_head, *args])], scripts.ISSUE)
        issued, *displaced = reply
        if not int(issued):
            raise ClientRemoved(f"client {client_id!r} is no longer registered")
        if displaced:
            self.forget_all(displaced)
            await self.settled()

    async def revoke_grant(self, grant_id: str) -> int:
        """Delete every token and code of one grant; returns how many keys went.

        The local cache drops the deleted keys at once: this process's next request
        must not wait for Redis's invalidation message to refuse them. Then the grant
        leaves its user's (or client's own) index and its client's, so it no longer
        counts against the subject's cap (``max_grants_per_user``).
        """
        members = [self.keys.members(grant_id)]
        (reply,) = await self.run([self.evalsha(scripts.SWEEP_GRANT, members, [])],
                                  scripts.SWEEP_GRANT)
        client_id, subject, subject_type = self.texts(reply[:3])
        deleted = reply[3]
        self.forget_all(deleted)
        if client_id:
            indexes = {self.keys.client_index(client_id),
                       self.keys.subject_index(subject, subject_type)}
            await self.run([("ZREM", key, grant_id) for key in sorted(indexes)])
        await self.settled()
        return len(deleted)
