"""The records OAuth 2.0 talks about (RFC 6749 §1.3-1.5, §2): clients, scopes, codes, tokens.

Frozen dataclasses with no behaviour beyond small derived properties. Secret
material (the client secret hash, raw token values) is ``repr=False`` so that no
log line or traceback ever prints it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from oauth_middleware.limits import ACCESS_LIFETIME

#: RFC 8693 §2.1: the grant type of token exchange.
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
GrantType = Literal[
    "authorization_code", "implicit", "password", "client_credentials", "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
]
GRANT_TYPES: tuple[GrantType, ...] = get_args(GrantType)
SubjectType = Literal["user", "client"]
#: ``id_token`` and ``id_token token`` are OpenID Connect Core 1.0 §3.2 (implicit); a
#: multi-valued response type is spelled with its values sorted (RFC 6749 §3.1.1).
ResponseType = Literal["code", "token", "id_token", "id_token token"]

DEFAULT_PUBLIC_GRANTS: tuple[GrantType, ...] = ("authorization_code", "refresh_token")
DEFAULT_CONFIDENTIAL_GRANTS: tuple[GrantType, ...] = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
)


@dataclass(frozen=True, slots=True)
class Scope:
    """A registered scope; disabled scopes are never granted."""

    identifier: str
    title: str = ""
    enabled: bool = True

    @property
    def display_title(self) -> str:
        return self.title or self.identifier


@dataclass(frozen=True, slots=True, kw_only=True)
class RememberedConsent:
    """Scopes a user approved for a client, remembered so that ``auth/`` need not ask again
    (OpenID Connect Core 1.0 §3.1.2.4); only for the client registration it was given to."""

    user: str
    client_id: str
    scopes: frozenset[str] = frozenset()
    #: ``Client.generation`` when approved: a client removed and registered anew starts afresh.
    client_generation: str = ""
    #: First approval while remembered, and the latest one.
    granted_at: float = 0.0
    updated_at: float = 0.0
    #: The latest approval plus the server's ``remember_consent`` lifetime.
    expires_at: float = 0.0
    #: The resources (RFC 8707) the approvals were for: a request for another one asks.
    audience: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class UserGrant:
    """One grant a person authorized, as their connected-apps page lists it: what the live
    records of that grant say, never a token (fingerprints only).

    The store keeps no record of the grant as such, only its tokens, so the times are
    those of its tokens: ``granted_at`` is when its oldest live token was issued (the
    authorization itself, until refreshes rotate that token away) and ``last_used``
    when the client last got a token of it (a code redeemed, a refresh token used).
    """

    grant_id: str
    client_id: str
    user: str
    scopes: frozenset[str] = frozenset()
    granted_at: float = 0.0
    last_used: float = 0.0
    #: When the last of its live tokens expires; None: one never does.
    expires_at: float | None = None
    #: Fingerprints of its live access tokens, oldest first.
    access_tokens: tuple[str, ...] = ()
    #: Whether a refresh token of it is live.
    refresh: bool = False
    #: Whether it is an authorization code not yet redeemed.
    pending: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """A registered client (RFC 6749 §2). An empty ``scopes`` means any enabled scope."""

    client_id: str
    title: str
    redirect_uris: tuple[str, ...] = ()
    public: bool = True
    secret_hash: str | None = field(default=None, repr=False)
    scopes: tuple[str, ...] = ()
    grant_types: tuple[GrantType, ...] = DEFAULT_PUBLIC_GRANTS
    #: Seconds an access token lives; None registers the client for never-expiring tokens.
    token_lifetime: int | None = ACCESS_LIFETIME
    description: str = ""
    link: str = ""
    registrant: str = ""
    #: RFC 7636 ``plain`` is refused unless a client is explicitly allowed it.
    allow_plain_pkce: bool = False
    created_at: float = 0.0
    #: Random per registration (``""`` for records older than the field): every grant of the
    #: client is issued against it, so a request that authenticated a removed client, or an
    #: earlier registration of the same id, issues nothing (``store.ClientRemoved``).
    generation: str = ""
    #: Registered by a client itself (RFC 7591), not by the host: shown as unverified.
    dynamic: bool = False
    #: Digest of the RFC 7592 registration access token (``security.digest``); dynamic only.
    registration_token_hash: str | None = field(default=None, repr=False)
    #: The resources (RFC 8707 §2) its tokens may be meant for; empty means any.
    resources: tuple[str, ...] = ()
    #: Where ``end_session/`` may send the user back after logout (OpenID Connect
    #: RP-Initiated Logout 1.0 §3.1), matched exactly; empty: never redirected.
    post_logout_redirect_uris: tuple[str, ...] = ()
    #: ``"opaque"`` (a random value) or ``"jwt"``: access tokens signed as RFC 9068 JWTs.
    access_token_format: str = "opaque"
    #: The JWS algorithm its JWT access tokens are signed with; "" means the key ring's first.
    access_token_alg: str = ""
    #: JWS algorithm of its ID tokens (OpenID Connect Dynamic Registration §2); empty: RS256.
    id_token_signed_response_alg: str = ""
    #: RFC 9126 §6: ``auth/`` accepts this client's requests only when pushed to ``par/``.
    require_pushed_authorization_requests: bool = False
    #: RFC 9449 §5.2: every token request must carry a DPoP proof (all its tokens are bound).
    require_dpop: bool = False

    @property
    def confidential(self) -> bool:
        return not self.public

    def allows(self, grant_type: GrantType) -> bool:
        """Whether the client was registered for ``grant_type``."""
        return grant_type in self.grant_types


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessToken:
    """What a bearer token stands for. ``subject`` is a user id, or the client id when
    ``subject_type`` is ``"client"`` (client_credentials) so the two never collide."""

    grant_id: str
    client_id: str
    subject: str
    subject_type: SubjectType = "user"
    scopes: frozenset[str] = frozenset()
    issued_at: float = 0.0
    expires_at: float | None = None
    fingerprint: str = ""
    #: The resources the token is meant for (RFC 8707 §2, the JWT ``aud``); empty when
    #: its issuer recorded none (no resource asked for, no default configured).
    audience: frozenset[str] = frozenset()
    # --- token exchange (RFC 8693): left out of the stored record while empty ---
    #: The RFC 8693 §4.1 ``act`` claim as JSON text (who acts for ``subject``); "" when
    #: nobody does (not exchanged, or exchanged for impersonation).
    act: str = ""
    #: The grant this token's grant was exchanged from; "" for a grant of its own.
    parent_grant: str = ""
    #: How many exchanges led to this token (0: not exchanged).
    exchange_depth: int = 0
    #: RFC 9449 §6: the RFC 7638 thumbprint of the key the token is bound to (``cnf.jkt``);
    #: empty for a bearer token.
    jkt: str = ""

    @property
    def user(self) -> str | None:
        return self.subject if self.subject_type == "user" else None

    def expires_in(self, now: float) -> int | None:
        """Whole seconds left at ``now`` (rounded up, never negative); None: never expires."""
        if self.expires_at is None:
            return None
        return max(0, math.ceil(self.expires_at - now))

    def is_expired(self, now: float) -> bool:
        """Whether the token has expired at ``now`` (an expiry instant is already past)."""
        return self.expires_at is not None and self.expires_at <= now


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshToken:
    """A refresh token; ``scopes`` is the whole original grant, so narrowing can be undone."""

    grant_id: str
    client_id: str
    subject: str
    subject_type: SubjectType = "user"
    scopes: frozenset[str] = frozenset()
    issued_at: float = 0.0
    expires_at: float | None = None
    fingerprint: str = ""
    #: True for a refresh token already rotated away: presenting it again is a replay.
    rotated: bool = False
    # --- rotation state (store schema v1, see store/keys.py ``rt:{g}``) ---
    #: SHA-256 digest of the grant's current refresh token: the nonce rotation checks.
    digest: str = ""
    #: Generation of the current refresh token: 1 when the grant starts, +1 per rotation.
    generation: int = 0
    #: The grant's sealing key (``security.new_refresh_token``); empty in older records.
    seal_key: str = field(default="", repr=False)
    #: The resources the grant was authorized for (RFC 8707 §2): a refresh may narrow them.
    audience: frozenset[str] = frozenset()
    #: RFC 9449 §5: the key a public client's refresh token is bound to; empty: none.
    jkt: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationCode:
    """A code bound to everything its redemption must repeat (RFC 6749 §4.1.3, RFC 7636)."""

    grant_id: str
    client_id: str
    subject: str
    redirect_uri: str
    #: RFC 6749 §4.1.3: redirect_uri is required at the token endpoint iff it was sent here.
    redirect_uri_explicit: bool = True
    scopes: frozenset[str] = frozenset()
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    issued_at: float = 0.0
    expires_at: float = 0.0
    fingerprint: str = ""
    used: bool = False
    #: The resources authorized at ``auth/`` (RFC 8707 §2): redemption may narrow them.
    audience: frozenset[str] = frozenset()
    # --- OpenID Connect (Core 1.0 §3.1.2.1, §2): left out of the stored record while empty ---
    #: The ``nonce`` sent, echoed exactly in the ID token.
    nonce: str | None = None
    #: When, how and by what the user authenticated (``web.Authentication``).
    auth_time: float | None = None
    acr: str | None = None
    amr: tuple[str, ...] = ()
    #: The ``claims`` request parameter (§5.5), normalised JSON.
    claims: str | None = None
    #: RFC 9449 §10: the DPoP key thumbprint sent to ``auth/``; the code is redeemed only
    #: with a proof of that key.
    dpop_jkt: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingAuthorization:
    """An authorization request waiting for the user's decision (server-side consent)."""

    user: str
    client_id: str
    response_type: ResponseType
    redirect_uri: str
    redirect_uri_explicit: bool
    scopes: tuple[str, ...]
    state: str | None = None
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    created_at: float = 0.0
    #: ``Client.generation`` of the client the user was asked about: a decision is refused
    #: once that client is removed, even if its id was registered again meanwhile.
    client_generation: str = ""
    #: The resources asked for (RFC 8707 §2), or the client's or server's default.
    audience: frozenset[str] = frozenset()
    # --- OpenID Connect (Core 1.0 §3.1.2.1, §2): left out of the stored record while empty ---
    #: The ``nonce`` sent, echoed exactly in the ID token.
    nonce: str | None = None
    #: When, how and by what the user authenticated (``web.Authentication``).
    auth_time: float | None = None
    acr: str | None = None
    amr: tuple[str, ...] = ()
    #: The ``claims`` request parameter (§5.5), normalised JSON.
    claims: str | None = None
    #: Digest of the ``request_uri`` it was pushed under (RFC 9126 §4), taken when answered.
    pushed: str | None = None
    #: RFC 9449 §10: the DPoP key thumbprint sent to ``auth/``; the code is redeemed only
    #: with a proof of that key.
    dpop_jkt: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PushedAuthorization:
    """An authorization request a client pushed (RFC 9126 §2), waiting for ``auth/``."""

    client_id: str
    #: ``Client.generation`` of the client that pushed it: a new registration voids it.
    client_generation: str = ""
    #: The pushed parameters, re-encoded as the query string ``auth/`` would have read.
    query: str = ""
    created_at: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedTokens:
    """A freshly issued token pair; the only object that ever holds raw token values."""

    access_token: str = field(repr=False)
    token: AccessToken
    refresh_token: str | None = field(default=None, repr=False)

    def to_response(self, now: float) -> dict[str, object]:
        """The token endpoint's JSON body (RFC 6749 §5.1); ``scope`` is always present."""
        body: dict[str, object] = {"access_token": self.access_token,
                                   "token_type": "DPoP" if self.token.jkt else "Bearer"}
        expires_in = self.token.expires_in(now)
        if expires_in is not None:
            body["expires_in"] = expires_in
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        body["scope"] = " ".join(sorted(self.token.scopes))
        return body
