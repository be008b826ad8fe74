"""Configuration of the authorization server, checked once at construction (STYLE rule 7)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from oauth_middleware import tracing
from oauth_middleware.audit import AuditTrail
from oauth_middleware.limits import (
    ACCESS_LIFETIME,
    CODE_LIFETIME,
    MAX_CODE_LIFETIME,
    MAX_LIFETIME,
    MAX_PAR_LIFETIME,
    MAX_PENDING,
    MAX_PUSHED,
    MAX_REMEMBER_CONSENT,
    PAR_LIFETIME,
    PENDING_LIFETIME,
    REFRESH_LIFETIME,
    REMEMBERED_CONSENTS,
)
from oauth_middleware.metrics.sink import NO_METRICS, Metrics
from oauth_middleware.models import GRANT_TYPES, TOKEN_EXCHANGE, GrantType
from oauth_middleware.resource_indicators import is_resource
from oauth_middleware.server.document_policy import ClientMetadataPolicy
from oauth_middleware.server.exchange_policy import TokenExchangePolicy
from oauth_middleware.server.oidc.provider import OpenIDProvider
from oauth_middleware.signing import SigningKeys
from oauth_middleware.store import TokenStore
from oauth_middleware.transport import Transport, is_loopback_host
from oauth_middleware.web import Authenticate, Logout, user_from_scope

#: Largest failure count and window (seconds) a :class:`ThrottlePolicy` accepts.
MAX_FAILURES = 10**9
MAX_WINDOW = 86_400
#: ``verify_password(username, password) -> user id | None``, sync or async.
VerifyPassword = Callable[[str, str], "Awaitable[str | None] | str | None"]


@dataclass(frozen=True, kw_only=True)
class ThrottlePolicy:
    """Brute-force limits (RFC 6749 §2.3.1) per window; the policy is :mod:`.throttle`'s.

    Counted per subject and caller address, so nobody can lock out anybody else;
    past an ``*_overall`` count of one subject from every address, each address is
    allowed a single failure instead (slowed down, not locked out).
    """

    #: Failed client authentications (with a secret) per client id from one address.
    client_failures: int = 10
    #: ... per client id from all addresses, past which each address is allowed one.
    client_failures_overall: int = 100
    #: Failed password grants per normalised username from one address.
    password_failures: int = 5
    #: ... per normalised username from all addresses, past which each is allowed one.
    password_failures_overall: int = 20
    #: Wrong user codes (RFC 8628 §5.1) entered from one address at the device page.
    user_code_failures: int = 10
    #: ... from all addresses, past which each address is allowed one.
    user_code_failures_overall: int = 100
    #: Device authorization requests (RFC 8628 §3.1) per client id from one address: each
    #: makes a device code, and a flood would evict the client's other waiting devices.
    device_requests: int = 20
    #: ... per client id from all addresses, past which each address is allowed one.
    device_requests_overall: int = 500
    #: Seconds a window lasts, from its first failure.
    window: int = 300
    #: Seconds a password check in flight counts against its address's allowance at most:
    #: it stops counting when it ends, or after this long if its worker died meanwhile.
    attempt_timeout: int = 30

    def __post_init__(self) -> None:
        for name in ("client_failures", "client_failures_overall", "password_failures",
                     "password_failures_overall", "user_code_failures",
                     "user_code_failures_overall", "device_requests",
                     "device_requests_overall"):
            if not 0 < getattr(self, name) <= MAX_FAILURES:
                raise ValueError(f"ThrottlePolicy.{name} must be 1 to {MAX_FAILURES}")
        for name in ("window", "attempt_timeout"):
            if not 0 < getattr(self, name) <= MAX_WINDOW:
                raise ValueError(f"ThrottlePolicy.{name} must be 1 to {MAX_WINDOW} seconds")


#: ``initial_access_token(token) -> bool``, sync or async: whether a registration may proceed.
CheckInitialToken = Callable[[str], "Awaitable[bool] | bool"]
#: Largest cap on dynamically registered clients a :class:`RegistrationPolicy` accepts.
MAX_DYNAMIC_CLIENTS = 10**7


@dataclass(frozen=True, kw_only=True)
class RegistrationPolicy:
    """Who may register a client at ``register/`` (RFC 7591 §3) and how much.

    ``initial_access_token`` None: open registration, for public clients only (the MCP
    case: ``token_endpoint_auth_method=none``, loopback or private-use redirect URIs,
    authorization_code with PKCE). Set (a bearer value compared in constant time, or a
    callable judging it): only callers presenting it register, and they may register
    confidential clients with https redirect URIs when ``allow_confidential``.
    """

    initial_access_token: str | CheckInitialToken | None = field(default=None, repr=False)
    #: Gated registration may create confidential clients (a secret is returned once).
    allow_confidential: bool = True
    #: Dynamically registered clients server-wide, past which registration is refused.
    max_clients: int = 10_000
    #: Registration requests per caller address per ``window`` seconds (429 past them).
    per_address: int = 10
    window: int = 3600
    #: Seconds after which a dynamically registered client that got no code and no token
    #: meanwhile disappears (a Redis TTL, restarted by each use); None: never. At least an
    #: access token's lifetime, so its tokens have expired when it goes.
    expire_unused_after: int | None = None

    def __post_init__(self) -> None:
        token = self.initial_access_token
        if isinstance(token, str) and len(token) < 16:
            raise ValueError("initial_access_token must be at least 16 characters "
                             "(e.g. secrets.token_urlsafe(32)), or a callable")
        if not 0 < self.max_clients <= MAX_DYNAMIC_CLIENTS:
            raise ValueError(f"RegistrationPolicy.max_clients must be 1 to {MAX_DYNAMIC_CLIENTS}")
        if not 0 < self.per_address <= MAX_FAILURES:
            raise ValueError(f"RegistrationPolicy.per_address must be 1 to {MAX_FAILURES}")
        if not 0 < self.window <= MAX_WINDOW:
            raise ValueError(f"RegistrationPolicy.window must be 1 to {MAX_WINDOW} seconds")
        unused = self.expire_unused_after
        if unused is not None and not ACCESS_LIFETIME <= unused <= MAX_LIFETIME:
            raise ValueError(f"RegistrationPolicy.expire_unused_after must be {ACCESS_LIFETIME} "
                             f"(an access token's lifetime) to {MAX_LIFETIME} seconds, or None")

    @property
    def gated(self) -> bool:
        return self.initial_access_token is not None

    @property
    def confidential_allowed(self) -> bool:
        return self.gated and self.allow_confidential


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    store: TokenStore
    issuer: str
    login_url: str = "/login"
    authenticate: Authenticate = user_from_scope
    verify_password: VerifyPassword | None = None
    secret_key: bytes = field(repr=False)
    debug: bool = False
    grant_types: frozenset[GrantType] = frozenset(GRANT_TYPES)
    #: PKCE is always required from public clients; this requires it from confidential ones too.
    require_pkce: bool = False
    code_lifetime: int = CODE_LIFETIME
    refresh_lifetime: int | None = REFRESH_LIFETIME
    consent_lifetime: int = PENDING_LIFETIME
    #: Consent pages one user may have open at once; one more drops their oldest.
    max_pending_consents: int = MAX_PENDING
    #: Seconds an approval is remembered, so ``auth/`` need not ask again for what the user
    #: approved (:mod:`.remembered`); None (default): every request asks.
    remember_consent: int | None = None
    #: Clients one user's remembered consents hold; one more forgets the oldest.
    max_remembered_consents: int = REMEMBERED_CONSENTS
    #: ``logout(request) -> None``: ends the host's session at ``end_session/`` (OpenID
    #: Connect RP-Initiated Logout 1.0); None: no such endpoint.
    logout: Logout | None = None
    #: RFC 9126: seconds a pushed request's ``request_uri`` lives (``expires_in``), and
    #: how many one client may have waiting (one more drops its oldest).
    par_lifetime: int = PAR_LIFETIME
    max_pushed_requests: int = MAX_PUSHED
    #: RFC 9126 §5: ``auth/`` accepts pushed requests only, from every client.
    require_par: bool = False
    throttle: ThrottlePolicy = field(default_factory=ThrottlePolicy)
    #: Extra template directory searched before the built-in templates.
    templates: Path | None = None
    #: Seconds a client is told to wait in ``Retry-After`` when Redis is unavailable.
    retry_after: int = 5
    #: A token carrying this scope may call introspect/ (besides client authentication).
    introspection_scope: str | None = None
    realm: str = "oauth"
    #: RFC 7591 dynamic registration at ``register/``; None: disabled.
    registration: RegistrationPolicy | None = None
    #: Client ID Metadata Documents (https URLs as client ids); None: disabled.
    client_metadata_documents: ClientMetadataPolicy | None = None
    #: The audience (RFC 8707) of tokens for clients that name no resource and have none
    #: registered; empty: such tokens record no audience.
    default_resource: frozenset[str] = frozenset()
    #: The keys ID tokens and JWT access tokens are signed with (:mod:`oauth_middleware.signing`).
    signing_keys: SigningKeys | None = None
    #: OpenID Connect (:mod:`oauth_middleware.server.oidc`); None: a plain OAuth 2.0 server.
    openid: OpenIDProvider | None = None
    #: Token exchange (RFC 8693, :mod:`.exchange_policy`); None: the grant is off.
    token_exchange: TokenExchangePolicy | None = None
    #: Seconds each DPoP nonce stands (RFC 9449 §8); None: ``token/`` asks for no nonce.
    dpop_nonce: int | None = None
    #: Where the endpoints count requests, refusals and latency (:mod:`oauth_middleware.metrics`).
    metrics: Metrics = field(default=NO_METRICS, repr=False, compare=False)
    #: Where security-relevant events go (:mod:`oauth_middleware.audit`); None: nowhere.
    audit: AuditTrail | None = None
    #: The OpenTelemetry tracer of the endpoints' spans (:mod:`oauth_middleware.tracing`),
    #: found when the server is built; None: no spans.
    tracer: Any = field(default_factory=tracing.tracer, repr=False, compare=False)
    #: The HTTPS rule (debug, or plain HTTP from this machine), set from ``debug``.
    transport: Transport = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "transport",
                           Transport(debug=self.debug, name="AuthorizationServer"))
        parts = urlsplit(self.issuer)
        absolute = parts.scheme in ("https", "http") and parts.netloc
        if not absolute or parts.query or parts.fragment:
            raise ValueError("issuer must be an absolute URL without query or fragment, "
                             "e.g. issuer='https://auth.example.com/oauth'")
        # A loopback issuer is served to this machine only (see :mod:`.transport`).
        if parts.scheme == "http" and not (self.debug or is_loopback_host(parts.netloc.encode())):
            raise ValueError("issuer must use https outside debug mode (or name this machine: "
                             "http://localhost:8000/oauth)")
        if len(self.secret_key) < 32:
            raise ValueError("secret_key must be at least 32 bytes, e.g. secrets.token_bytes(32)")
        if not 0 < self.code_lifetime <= MAX_CODE_LIFETIME:
            raise ValueError("code_lifetime must be 1 to 600 seconds (RFC 6749 §4.1.2)")
        if not 0 < self.consent_lifetime <= 3600:
            raise ValueError("consent_lifetime must be 1 to 3600 seconds")
        if not 1 <= self.max_pending_consents <= 1000:
            raise ValueError("max_pending_consents must be 1 to 1000 open consent pages per user")
        if not 0 < self.par_lifetime <= MAX_PAR_LIFETIME:
            raise ValueError(f"par_lifetime must be 1 to {MAX_PAR_LIFETIME} seconds "
                             "(RFC 9126 §2.2: a short-lived request_uri)")
        if not 1 <= self.max_pushed_requests <= 100_000:
            raise ValueError("max_pushed_requests must be 1 to 100000 waiting requests per client")
        if self.remember_consent is not None and not (
                0 < self.remember_consent <= MAX_REMEMBER_CONSENT):
            raise ValueError(f"remember_consent must be 1 to {MAX_REMEMBER_CONSENT} seconds "
                             "(400 days), or None to ask every time")
        if not 1 <= self.max_remembered_consents <= 10_000:
            raise ValueError("max_remembered_consents must be 1 to 10000 clients per user")
        if self.refresh_lifetime is not None and not 0 < self.refresh_lifetime <= MAX_LIFETIME:
            raise ValueError(f"refresh_lifetime must be 1 to {MAX_LIFETIME} seconds (ten years), "
                             "or None for never")
        unknown = set(self.grant_types) - set(GRANT_TYPES)
        if unknown:
            raise ValueError(f"unknown grant type(s): {', '.join(sorted(unknown))}")
        for resource in sorted(self.default_resource):
            if not is_resource(resource):
                raise ValueError(f"default_resource={resource!r} must be an absolute URI "
                                 "without fragment, e.g. 'https://api.example.com/mcp'")
        if self.openid is not None and (self.signing_keys is None
                                        or "RS256" not in self.signing_keys.algorithms):
            raise ValueError("openid=OpenIDProvider(...) needs signing_keys that sign RS256 "
                             "(OpenID Connect Core 1.0 §15.1)")
        if self.dpop_nonce is not None and not 10 <= self.dpop_nonce <= 86400:
            raise ValueError("dpop_nonce must be 10 to 86400 seconds, or None for no nonces")
        if "password" in self.grant_types and self.verify_password is None:
            object.__setattr__(self, "grant_types", self.grant_types - {"password"})
        if TOKEN_EXCHANGE in self.grant_types and self.token_exchange is None:
            object.__setattr__(self, "grant_types", self.grant_types - {TOKEN_EXCHANGE})

    def url(self, path: str) -> str:
        """An absolute URL under the issuer (never from the Host header)."""
        return f"{self.issuer.rstrip('/')}/{path.lstrip('/')}"


def default_audience(value: str | Iterable[str] | None) -> frozenset[str]:
    """``default_resource`` as given: none, one URI or several."""
    if value is None:
        return frozenset()
    return frozenset({value} if isinstance(value, str) else value)


def grant_types(value: Iterable[str] | None) -> frozenset[GrantType]:
    return frozenset(GRANT_TYPES) if value is None else frozenset(value)  # type: ignore[arg-type]
