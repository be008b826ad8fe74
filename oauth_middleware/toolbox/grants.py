"""Granting directly (RFC 6749 §3.3, §4.1.2): scope rules, tokens and codes issued by tooling.

The CLI and the admin issue tokens and authorization codes through these calls,
under the same scope rules the authorization server applies. Given an audit trail,
each records who issued it (``actor``: ``admin:<id>``, ``cli``, or ``host`` for the
app's own code) in the script that writes the token or code (``store._events``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from oauth_middleware.audit import AuditTrail, EventType
from oauth_middleware.limits import CODE_LIFETIME
from oauth_middleware.models import AuthorizationCode, Client, GrantType, IssuedTokens
from oauth_middleware.pkce import S256_CHALLENGE
from oauth_middleware.policy import check_typed_text, grantable_scopes
from oauth_middleware.redirects import find_registered
from oauth_middleware.store import ClientRemoved, NewTokens, StreamEvent, TokenStore
from oauth_middleware.toolbox.clients import UnknownClient, require_client
from oauth_middleware.toolbox.rules import check_lifetime

#: Longest user id accepted for a token or code issued by tooling.
MAX_USER = 256
#: The grants whose tokens act for a user (RFC 6749 §4.1-4.3); a refresh only continues one.
USER_GRANTS: tuple[GrantType, ...] = ("authorization_code", "implicit", "password")


@dataclass(frozen=True, slots=True)
class IssuedCode:
    """An authorization code as just issued; ``code`` exists only here, shown once."""

    code: str = field(repr=False)
    client_id: str
    user: str
    redirect_uri: str
    scopes: frozenset[str]
    expires_in: int
    code_challenge: str | None = None


def check_grant(client: Client, user: str | None) -> None:
    """Refuse a token the token endpoint would never issue this client (RFC 6749 §4.4,
    §5.2 ``unauthorized_client``): its own (no ``user``) without client_credentials, one
    for a user without any grant that acts for users."""
    if user is None and (client.public or not client.allows("client_credentials")):
        raise ValueError(
            f"client {client.client_id!r} may not have a token of its own: that is the "
            "client_credentials grant, which it is not registered for (name a user, or "
            "register it confidential with client_credentials)")
    if user is not None and not any(client.allows(grant) for grant in USER_GRANTS):
        raise ValueError(
            f"client {client.client_id!r} may not have a token for a user: it is registered "
            f"only for {', '.join(client.grant_types)}, and a user's token needs "
            f"{', '.join(USER_GRANTS[:-1])} or {USER_GRANTS[-1]} (leave out the user for "
            "the client's own token)")


def _event(audit: AuditTrail | None, type: EventType, actor: str, client_id: str,
           user: str | None, scopes: frozenset[str]) -> StreamEvent | None:
    """The event of an issue by tooling (None: no trail); ``by`` is the actor's kind."""
    if audit is None:
        return None
    return audit.stream_event(type, actor=actor, client=client_id, user=user or "",
                              scopes=scopes, by=actor.partition(":")[0])


def _user(user: str) -> str:
    if not user.strip() or len(user) > MAX_USER:
        raise ValueError(f"a user id is 1 to {MAX_USER} characters")
    return check_typed_text(user, "user id")


async def issue_token(
    store: TokenStore,
    client_id: str,
    *,
    user: str | None = None,
    scopes: Iterable[str] | None = None,
    lifetime: int | None = None,
    audit: AuditTrail | None = None,
    actor: str = "host",
) -> IssuedTokens:
    """Issue a token directly (CLI, admin, tests): for ``user``, or for the client itself.

    The client's scope rules and grant types apply as at the token endpoint: its own
    token needs client_credentials, a user's a grant that acts for users
    (:func:`check_grant`). The lifetime defaults to the client's and is at most
    ``MAX_LIFETIME``. A refresh token comes along when a user is named and the
    client may refresh.

    A client registered for JWT access tokens (RFC 9068) is refused: only the
    authorization server signs them, under its ``issuer`` and key ring, which tooling
    does not know; an opaque token would pass our own middleware but fail every
    resource server that checks JWTs, and a JWT with a guessed ``iss`` would be worse.

    ``audit``: the trail to record ``token.issued`` in, by ``actor``.
    """
    check_lifetime(lifetime, "a token lifetime")
    client = await require_client(store, client_id)
    check_grant(client, user)
    if client.access_token_format != "opaque":
        raise ValueError(
            f"client {client_id!r} receives JWT access tokens (RFC 9068), which only the "
            "authorization server signs: get one from its token endpoint "
            "(client_credentials, or a code from issue_code)")
    granted = await grantable_scopes(store, client, scopes)
    spec = NewTokens(
        client_id=client.client_id,
        subject=_user(user) if user is not None else client.client_id,
        subject_type="user" if user is not None else "client",
        scopes=granted,
        lifetime=client.token_lifetime if lifetime is None else lifetime,
        refresh=user is not None and client.allows("refresh_token"),
        client_generation=client.generation,
        event=_event(audit, "token.issued", actor, client.client_id, user, granted),
    )
    try:
        return await store.issue(spec)
    except ClientRemoved:  # removed since it was read: as if it had never been there
        raise UnknownClient(f"no client {client_id!r}") from None


async def issue_code(
    store: TokenStore,
    client_id: str,
    *,
    user: str,
    redirect_uri: str,
    scopes: Iterable[str] | None = None,
    code_challenge: str | None = None,
    lifetime: int = CODE_LIFETIME,
    audit: AuditTrail | None = None,
    actor: str = "host",
) -> IssuedCode:
    """Issue an authorization code for ``user``, as if they had approved (RFC 6749 §4.1.2).

    The client must be allowed the code grant, ``redirect_uri`` must be one it
    registered (the token request must repeat it), and the scope rules apply.
    ``code_challenge`` is an S256 PKCE challenge, required for public clients.
    ``audit``: the trail to record ``code.issued`` in, by ``actor``.
    """
    client = await require_client(store, client_id)
    if not client.allows("authorization_code"):
        raise ValueError(f"client {client_id!r} may not use the authorization_code grant")
    if find_registered(client.redirect_uris, redirect_uri) is None:
        raise ValueError(f"{redirect_uri!r} is not a redirect URI of client {client_id!r}")
    challenge = (code_challenge or "").strip() or None
    if challenge is None and client.public:
        raise ValueError("a public client's code needs a PKCE code challenge (S256)")
    if challenge is not None and not S256_CHALLENGE.fullmatch(challenge):
        raise ValueError("an S256 code challenge is 43 characters of A-Z a-z 0-9 - _")
    granted = await grantable_scopes(store, client, scopes)
    record = AuthorizationCode(
        grant_id="", client_id=client.client_id, subject=_user(user), redirect_uri=redirect_uri,
        scopes=granted, code_challenge=challenge,
        code_challenge_method=None if challenge is None else "S256",
    )
    try:
        code = await store.create_code(
            record, lifetime=lifetime, client_generation=client.generation,
            event=_event(audit, "code.issued", actor, client.client_id, user, granted))
    except ClientRemoved:
        raise UnknownClient(f"no client {client_id!r}") from None
    return IssuedCode(code, client.client_id, record.subject, redirect_uri, granted, lifetime,
                      challenge)
