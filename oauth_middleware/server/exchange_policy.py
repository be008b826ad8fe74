"""Who may exchange which tokens (RFC 8693 §1.1, §2.1, §5): the server's token exchange policy.

``AuthorizationServer(token_exchange=TokenExchangePolicy(...))`` turns the grant on; a
client still needs it among its ``grant_types`` and a secret (confidential only). What a
client may present as ``subject_token``:

- our own access tokens issued to that client itself, or whose audience holds one of the
  resources its :class:`ExchangeClient` ``accepts`` (a resource server exchanging the
  token it was called with, to call the next service);
- JWTs (``...:token-type:jwt``) that one of ``trusted_issuers`` verifies (any
  :class:`~oauth_middleware.verifier.TokenVerifier`, e.g. a ``JWTVerifier`` for your
  identity provider, whose ``audience`` is this server) with such an audience. A trusted
  issuer's ``sub`` is taken as your user id: trust only an issuer whose users are yours.

``delegation`` (the default) requires an ``actor_token`` and records the actor in the
issued token's ``act`` (§4.1); impersonation refuses one and records nobody.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from oauth_middleware.resource_indicators import is_resource
from oauth_middleware.verifier import TokenVerifier

#: Token type identifiers (RFC 8693 §3).
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"


@dataclass(frozen=True, kw_only=True)
class ExchangeClient:
    """One client's exchange rule."""

    #: Resources (RFC 8707 URIs) a subject token may be meant for, beyond the client's own
    #: tokens: those of the APIs this client serves.
    accepts: Collection[str] = frozenset()
    #: Delegation (``act`` recorded, ``actor_token`` required) or impersonation.
    delegation: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "accepts", frozenset(
            {self.accepts} if isinstance(self.accepts, str) else self.accepts))
        for uri in sorted(self.accepts):
            if not is_resource(uri):
                raise ValueError(f"ExchangeClient(accepts={uri!r}) must be an absolute URI "
                                 "without fragment, e.g. 'https://api.example.com'")


@dataclass(frozen=True, kw_only=True)
class TokenExchangePolicy:
    """The server's token exchange configuration; see the module docstring."""

    #: Verifiers of the JWTs accepted as ``subject_token`` or ``actor_token``.
    trusted_issuers: Sequence[TokenVerifier] = ()
    #: Per client id; a client not named gets ``ExchangeClient()``: its own tokens only.
    clients: Mapping[str, ExchangeClient] = field(default_factory=dict)

    def __post_init__(self) -> None:
        issuers = tuple(self.trusted_issuers) if isinstance(self.trusted_issuers, Iterable) \
            else (self.trusted_issuers,)
        for verifier in issuers:
            if not isinstance(verifier, TokenVerifier):
                raise TypeError("trusted_issuers must hold verifiers with an async "
                                "resolve(token), e.g. JWTVerifier(issuer=..., audience=...)")
        object.__setattr__(self, "trusted_issuers", issuers)
        for client_id, rule in self.clients.items():
            if not isinstance(rule, ExchangeClient):
                raise TypeError(f"clients[{client_id!r}] must be an ExchangeClient(...)")
        object.__setattr__(self, "clients", dict(self.clients))

    def rule(self, client_id: str) -> ExchangeClient:
        return self.clients.get(client_id, _OWN_TOKENS)


_OWN_TOKENS = ExchangeClient()
