"""The ``id_token_hint`` parameter (OpenID Connect Core 1.0 §3.1.2.1; RP-Initiated Logout
1.0 §2): one verifier for ``auth/`` and ``end_session/``.

A hint is an ID token this server issued, judged by its signature, its header and its
claims, never by its expiry: Core asks the OP to accept a hint "even if the ID Token's
exp has passed", and a logout request is often sent after its ID token expired. A hint
says who, it signs nobody in. Refused, with one answer whatever the reason:

- a signature that does not verify against the keys the server publishes
  (``SigningKeys.public_jwks``) with an asymmetric algorithm the ring signs with: never
  ``none``, never an HMAC keyed with a public key (RFC 8725 §3.1);
- a ``crit`` header, or ``typ: at+jwt`` — an RFC 9068 access token signed by the same
  keys is no ID token;
- an ``iss`` other than ours, no ``sub``, no ``aud``, or an ``azp`` that is no string;
- at ``auth/``, an ``aud`` not naming the client asking: a hint minted for client A
  proves nothing to client B.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oauth_middleware.errors import InvalidRequest
from oauth_middleware.server.config import ServerConfig
from oauth_middleware.signing import ASYMMETRIC_ALGORITHMS

#: Longest hint read: an ID token with many claims is a few KiB.
MAX_HINT = 8192
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
REFUSED = "The id_token_hint is not an ID token this server issued."


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


async def verify_hint(config: ServerConfig, value: str, *, audience: str | None = None
                      ) -> IdTokenHint:
    """The hint's claims once it checks out (and, given ``audience``, its ``aud`` names
    that client); else ``invalid_request``. A store that cannot be read raises its own
    error (a 503), never a refusal of the hint."""
    keys = config.signing_keys
    algorithms = [alg for alg in (keys.algorithms if keys else ())
                  if alg in ASYMMETRIC_ALGORITHMS]
    if keys is None or not algorithms or len(value) > MAX_HINT or value.count(".") != 2:
        raise InvalidRequest(REFUSED)
    published = await keys.public_jwks()
    from joserfc import jwt  # the ``jwt`` extra, present wherever signing keys are
    from joserfc.jwk import KeySet

    try:
        key_set = KeySet.import_key_set(published)  # type: ignore[arg-type]
        token = jwt.decode(value, key_set, algorithms=algorithms)
    except Exception:  # no I/O in here: any malformed or forged token gets one answer
        raise InvalidRequest(REFUSED) from None
    hint = _claims(config, token.header, token.claims)
    if audience is not None and audience not in hint.audience:
        raise InvalidRequest(REFUSED)
    return hint


def _claims(config: ServerConfig, header: dict[str, Any], claims: dict[str, Any]
            ) -> IdTokenHint:
    typ = header.get("typ")
    if "crit" in header or (isinstance(typ, str) and typ.lower() in _ACCESS_TOKEN_TYPES):
        raise InvalidRequest(REFUSED)
    subject, audience, azp = claims.get("sub"), claims.get("aud"), claims.get("azp")
    if isinstance(audience, str):
        audience = [audience]
    if claims.get("iss") != config.issuer or not isinstance(subject, str) or not subject \
            or not isinstance(audience, list) or not audience \
            or not all(isinstance(a, str) for a in audience) \
            or not isinstance(azp, str | None):
        raise InvalidRequest(REFUSED)
    return IdTokenHint(subject, tuple(audience), azp)
