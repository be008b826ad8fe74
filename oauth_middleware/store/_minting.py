"""Minting the members of a grant (the token family, RFC 6749 §10.4): values and records.

Every token and code belongs to a grant: the grant id is the public half of the
value and the Redis hash tag of every key of that grant, so one Lua script can
redeem, rotate or revoke a family atomically within one cluster slot. Nothing
here writes; :mod:`._grants` does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from oauth_middleware.limits import ACCESS_LIFETIME, REFRESH_LIFETIME, check_lifetime
from oauth_middleware.models import AccessToken, IssuedTokens, RefreshToken, SubjectType
from oauth_middleware.security import (
    FINGERPRINT_CHARS,
    digest,
    new_refresh_token,
    new_seal_key,
    new_token,
)
from oauth_middleware.store._codec import dump, dump_access
from oauth_middleware.store._context import Context, ttl_ms
from oauth_middleware.store._events import StreamEvent

#: A grant member waiting to be written: key, value, TTL in ms (0 = never).
Member = tuple[str, str, int]
#: Makes an access token's value from its record (a signed JWT, RFC 9068), in place of a
#: random one; the store keeps only its digest, as for every token.
Encode = Callable[[AccessToken], Awaitable[str]]


@dataclass(frozen=True, slots=True, kw_only=True)
class NewTokens:
    """What to issue: for whom, to which client, with which scopes, for how long."""

    client_id: str
    subject: str
    subject_type: SubjectType = "user"
    scopes: frozenset[str] = frozenset()
    #: Access token lifetime in seconds; None for a token that never expires.
    lifetime: int | None = ACCESS_LIFETIME
    refresh: bool = False
    refresh_lifetime: int | None = REFRESH_LIFETIME
    #: Scopes a refresh token may ask for later (RFC 6749 §6); defaults to ``scopes``.
    grant_scopes: frozenset[str] | None = None
    #: The access token's audience (RFC 8707 §2); empty records none.
    audience: frozenset[str] = frozenset()
    #: Resources a refresh token may ask for later; defaults to ``audience``.
    grant_audience: frozenset[str] | None = None
    #: ``Client.generation`` of the client as authenticated: nothing is issued unless that
    #: registration still stands (:class:`ClientRemoved`). None skips the check, for tokens
    #: of no registered client (tests, tooling).
    client_generation: str | None = None
    #: Token exchange (RFC 8693): the ``act`` claim as JSON text, the grant exchanged from
    #: and how many exchanges led here (see ``AccessToken``).
    act: str = ""
    parent_grant: str = ""
    exchange_depth: int = 0
    #: RFC 9449 §5: the thumbprint of the DPoP key the access token is bound to; "" none.
    jkt: str = ""
    #: Bind the refresh token to ``jkt`` too (public clients, §5); else it is not bound.
    bind_refresh: bool = False
    #: The access token's value from its record; None: a random opaque token.
    encode: Encode | None = field(default=None, compare=False)
    #: The audit event written with the grant (:mod:`._events`); None: none.
    event: StreamEvent | None = field(default=None, compare=False)


class ClientRemoved(LookupError):
    """The client was removed, or registered anew, since the issuer read it: nothing was
    issued (its removal may already have swept every grant it had)."""


@dataclass(frozen=True, slots=True)
class Generation:
    """Where a new refresh token stands in its grant: the grant's sealing key and the
    token's generation (a new grant starts at 1 with a new key; a rotation adds one)."""

    seal_key: str = field(repr=False)
    number: int = 1


async def minted(
    ctx: Context, grant_id: str, spec: NewTokens, generation: Generation | None = None
) -> tuple[IssuedTokens, list[Member]]:
    """:func:`mint`, the access token's value made by ``spec.encode`` when it has one."""
    if spec.encode is None:
        return mint(ctx, grant_id, spec, generation)
    now = ctx.clock()
    value = await spec.encode(_access_record(grant_id, spec, now))
    return mint(ctx, grant_id, spec, generation, access=value, now=now)


def _access_record(grant_id: str, spec: NewTokens, now: float, sha: str = "") -> AccessToken:
    return AccessToken(
        grant_id=grant_id, client_id=spec.client_id, subject=spec.subject,
        subject_type=spec.subject_type, scopes=spec.scopes, issued_at=now,
        expires_at=None if spec.lifetime is None else now + spec.lifetime,
        fingerprint=sha[:FINGERPRINT_CHARS], audience=spec.audience, act=spec.act,
        parent_grant=spec.parent_grant, exchange_depth=spec.exchange_depth, jkt=spec.jkt,
    )


def mint(
    ctx: Context, grant_id: str, spec: NewTokens, generation: Generation | None = None,
    *, access: str | None = None, now: float | None = None,
) -> tuple[IssuedTokens, list[Member]]:
    """Create raw tokens and their records; nothing is written yet. A refresh token
    is ``generation`` of its grant, or the first of a new one.

    Every grant's tokens pass here first, so an out-of-range lifetime is refused
    (``ValueError``) before anything reaches Redis. ``access``: the access token's value,
    made at ``now`` (:func:`minted`); else a random one.
    """
    check_lifetime(spec.lifetime, "an access token lifetime")
    if spec.refresh:
        check_lifetime(spec.refresh_lifetime, "a refresh token lifetime")
    now = ctx.clock() if now is None else now
    if access is None:
        access, sha = new_value(grant_id)
    else:  # made by ``spec.encode`` from this record (:func:`minted`)
        sha = digest(access)
    record = _access_record(grant_id, spec, now, sha)
    members = [(ctx.keys.access(grant_id, sha), dump_access(record),
                ttl_ms(spec.lifetime))]
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
        audience=spec.audience if spec.grant_audience is None else spec.grant_audience,
        jkt=spec.jkt if spec.bind_refresh else "",
    )
    ttl = ttl_ms(spec.refresh_lifetime)
    members.append((ctx.keys.refresh(grant_id), dump(rrecord), ttl))
    issued = IssuedTokens(access_token=access, token=record, refresh_token=refresh)
    return issued, members


def new_value(grant_id: str) -> tuple[str, str]:
    value = new_token(grant_id)
    return value, digest(value)


def index_ttl(members: list[Member]) -> int:
    """The grant's index TTL: its longest-lived member's (ms, 0 = never). A TTL, not an
    expiry: the script adds Redis's clock, the one the members expire by, not this
    process's (which may run ahead of other hosts', see ``_grant_scripts.INDEX_ADD``)."""
    ttls = [ttl for _, _, ttl in members]
    return 0 if 0 in ttls else max(ttls)


def flatten(members: list[Member]) -> tuple[list[str], list[Any]]:
    """Script arguments for members: their keys, and value/ttl pairs."""
    args: list[Any] = []
    for _, value, ttl in members:
        args += [value, ttl]
    return [key for key, _, _ in members], args
