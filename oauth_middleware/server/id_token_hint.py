"""The ``id_token_hint`` of a logout request (OpenID Connect RP-Initiated Logout 1.0 §2).

An ID token this server issued, judged by its signature and issuer only: "the OP need
not [check] that it has not expired" (§2: a hint is often sent after its ID token
expired). The signature is checked with joserfc against the public keys the server
publishes (``SigningKeys.public_jwks``), with asymmetric algorithms only: never
``none``, never an HMAC keyed with a public key. A JWT access token (RFC 9068
``typ: at+jwt``, signed by the same keys) is no ID token and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oauth_middleware.errors import InvalidRequest
from oauth_middleware.server.config import ServerConfig

#: Longest hint read: an ID token with many claims is a few KiB.
MAX_HINT = 8192
#: Algorithms a hint may be signed with (RFC 7518 §3): public-key signatures only.
ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                        "ES256", "ES384", "ES512", "EdDSA"})
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_REFUSED = "The id_token_hint is not an ID token this server issued."


@dataclass(frozen=True, slots=True)
class IdTokenHint:
    """What a verified hint says: whose session, for which clients."""

    subject: str
    audience: tuple[str, ...]
    authorized_party: str | None = None

    def names(self, client_id: str) -> bool:
        """Whether the ID token was issued to ``client_id``."""
        return client_id in self.audience or client_id == self.authorized_party

    @property
    def client_id(self) -> str | None:
        """The client it was issued to: ``azp``, else its only audience (None: ambiguous)."""
        if self.authorized_party is not None:
            return self.authorized_party
        return self.audience[0] if len(self.audience) == 1 else None


async def verify_hint(config: ServerConfig, value: str) -> IdTokenHint:
    """The hint's claims once its signature and ``iss`` check out; else ``invalid_request``."""
    keys = config.signing_keys
    algorithms = [alg for alg in (keys.algorithms if keys else ()) if alg in ASYMMETRIC]
    if keys is None or not algorithms or len(value) > MAX_HINT or value.count(".") != 2:
        raise InvalidRequest(_REFUSED)
    from joserfc import jwt  # the ``jwt`` extra, present wherever signing keys are
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    try:
        key_set = KeySet.import_key_set(await keys.public_jwks())  # type: ignore[arg-type]
        token = jwt.decode(value, key_set, algorithms=algorithms)
    except (JoseError, ValueError, TypeError, KeyError, RecursionError):
        raise InvalidRequest(_REFUSED) from None
    return _claims(config, token.header, token.claims)


def _claims(config: ServerConfig, header: dict[str, Any], claims: dict[str, Any]
            ) -> IdTokenHint:
    typ = header.get("typ")
    if "crit" in header or (isinstance(typ, str) and typ.lower() in _ACCESS_TOKEN_TYPES):
        raise InvalidRequest(_REFUSED)
    subject, audience, azp = claims.get("sub"), claims.get("aud"), claims.get("azp")
    if isinstance(audience, str):
        audience = [audience]
    if claims.get("iss") != config.issuer or not isinstance(subject, str) or not subject \
            or not isinstance(audience, list) or not audience \
            or not all(isinstance(a, str) for a in audience) \
            or not isinstance(azp, str | None):
        raise InvalidRequest(_REFUSED)
    return IdTokenHint(subject, tuple(audience), azp)
