"""JWT access tokens (RFC 9068 §2), for clients registered with ``access_token_format="jwt"``.

The token is signed with the key ring's current key for the client's algorithm
(``typ: at+jwt``, ``kid``), and stored like any token: the store keeps its digest, so
our own middleware still looks it up in Redis and a revoked grant's JWT is refused on
the next request, while other resource servers can check it against ``jwks_uri``.

Claims (§2.2): ``iss``; ``sub``, the user, or the client itself for client credentials;
``aud``, the RFC 8707 audience, else the client id; ``client_id``; ``scope``; ``jti``
naming the grant (:func:`oauth_middleware.security.new_jwt_id`); ``iat`` and ``exp``;
and, when the grant recorded how the user signed in at ``auth/`` (the code and implicit
flows), ``auth_time``, ``acr`` and ``amr`` (§2.2.1). A refreshed token carries none: the
refresh token does not record the sign-in, and a resource server that wants a recent
sign-in had better see no ``auth_time`` than an old one passed off as current.
A JWT must expire (§2.2 ``exp`` REQUIRED), so its lifetime is at most the key ring's
``max_token_lifetime``: the time a rotated-out key stays published. It must also fit
the bearer token size every resource server of ours accepts (``MAX_TOKEN_LENGTH``):
a grant whose scopes would not is ``invalid_scope``, nothing issued.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from oauth_middleware.errors import InvalidScope, TemporarilyUnavailable, UnauthorizedClient
from oauth_middleware.extraction import MAX_TOKEN_LENGTH
from oauth_middleware.keyring import KeyRingError
from oauth_middleware.models import AccessToken, Client
from oauth_middleware.security import new_jwt_id
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.signing import SigningKeys, sign_compact
from oauth_middleware.store import NewTokens

logger = logging.getLogger("oauth_middleware.server")

#: A JWT access token's lifetime when neither the client nor the key ring bounds it.
DEFAULT_CAP = 24 * 3600


class AccessTokenSigner:
    """Turns a grant's :class:`NewTokens` into ones whose access token is a signed JWT."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config

    def apply(self, client: Client, spec: NewTokens, sign_in: SignIn | None = None
              ) -> NewTokens:
        """``spec`` as the client's format asks: unchanged for opaque tokens."""
        if client.access_token_format != "jwt":
            return spec
        keys = self.config.signing_keys
        if keys is None:
            raise UnauthorizedClient("The server has no signing keys for JWT access tokens.")
        alg = client.access_token_alg or keys.algorithms[0]
        if alg not in keys.algorithms:
            raise UnauthorizedClient("The server cannot sign with the client's algorithm.")
        cap = getattr(keys, "max_token_lifetime", DEFAULT_CAP)
        lifetime = cap if spec.lifetime is None else min(spec.lifetime, cap)
        encoder = _Encoder(self.config.issuer, keys, alg, self.config.retry_after,
                           sign_in.claims() if sign_in is not None else {})
        return replace(spec, lifetime=lifetime, encode=encoder.encode)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignIn:
    """How the user authenticated at ``auth/`` (RFC 9068 §2.2.1), as the grant recorded it
    from the host's ``Authentication``."""

    auth_time: float | None = None
    acr: str | None = None
    amr: tuple[str, ...] = ()

    def claims(self) -> dict[str, Any]:
        """The claims that apply: none for what the host did not say."""
        found: dict[str, Any] = {}
        if self.auth_time is not None:
            found["auth_time"] = int(self.auth_time)
        if self.acr is not None:
            found["acr"] = self.acr
        if self.amr:
            found["amr"] = list(self.amr)
        return found


class _Encoder:
    __slots__ = ("alg", "extra", "issuer", "keys", "retry_after")

    def __init__(self, issuer: str, keys: SigningKeys, alg: str, retry_after: int,
                 extra: dict[str, Any]) -> None:
        self.issuer, self.keys, self.alg, self.retry_after = issuer, keys, alg, retry_after
        self.extra = extra

    async def encode(self, record: AccessToken) -> str:
        try:
            key = await self.keys.signing_key(self.alg)
        except (KeyRingError, LookupError) as exc:
            logger.error("cannot sign a JWT access token with %s: %s", self.alg, exc)
            raise TemporarilyUnavailable(retry_after=self.retry_after) from None
        body = {**self.extra, **claims(self.issuer, record)}
        token = sign_compact(key, self.alg, "at+jwt", body)
        if len(token) > MAX_TOKEN_LENGTH:  # resource servers would refuse it as malformed
            raise InvalidScope("The granted scopes do not fit in a JWT access token: "
                               "ask for fewer with the scope parameter.")
        return token


def claims(issuer: str, record: AccessToken) -> dict[str, Any]:
    """The RFC 9068 §2.2 claims of ``record`` (its expiry is set: see the module docstring)."""
    audience = sorted(record.audience) or [record.client_id]
    act = {"act": json.loads(record.act)} if record.act else {}  # RFC 8693 §4.1
    bound = {"cnf": {"jkt": record.jkt}} if record.jkt else {}  # RFC 9449 §6.1
    return {
        **act,
        "iss": issuer,
        "sub": record.subject,
        "aud": audience[0] if len(audience) == 1 else audience,
        "client_id": record.client_id,
        "scope": " ".join(sorted(record.scopes)),
        "jti": new_jwt_id(record.grant_id),
        "iat": int(record.issued_at),
        "exp": int(record.expires_at or record.issued_at),
        **bound,
    }
