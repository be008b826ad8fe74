"""ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.6, §3.2.2.10): claims, signing, hints.

Signed with the server's key ring (:class:`~oauth_middleware.signing.SigningKeys`):
``RS256`` unless the client registered ``id_token_signed_response_alg``. joserfc (the
``jwt`` extra) is imported on first use, so a server that never signs needs none.
``aud`` is the client id alone, so ``azp`` is never needed (§2). An ``id_token_hint``
is accepted only if this server signed it (its published keys), for this issuer and
for the client now asking: a hint minted for client A proves nothing to client B.
Expired hints are accepted, as §3.1.2.1 asks ("SHOULD ... even if the ID Token's exp
has passed"): a hint says who, it does not sign anyone in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oauth_middleware.errors import InvalidRequest
from oauth_middleware.models import Client
from oauth_middleware.security import half_hash
from oauth_middleware.signing import SigningKeys

#: What every ID token is signed with unless its client asked otherwise (§15.1: required).
DEFAULT_ALG = "RS256"
#: RFC 9068 §2.1: a JWT access token signed by the same keys is no ID token.
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Authenticated:
    """Who the ID token is about and how they signed in, as the grant recorded it."""

    subject: str
    auth_time: float | None = None
    acr: str | None = None
    amr: tuple[str, ...] = ()


def algorithm(client: Client) -> str:
    return client.id_token_signed_response_alg or DEFAULT_ALG


def check_algorithm(keys: SigningKeys | None, client: Client) -> None:
    """Refuse, before anything is issued, a client whose ID-token algorithm we cannot sign."""
    if keys is None or algorithm(client) not in keys.algorithms:
        raise InvalidRequest("The client's ID token signing algorithm is not available.")


def claims(
    *, issuer: str, client: Client, who: Authenticated, now: float, lifetime: int,
    nonce: str | None = None, access_token: str | None = None, code: str | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The ID token's claims: the required ones, then what applies of the rest."""
    alg = algorithm(client)
    body: dict[str, object] = {**(extra or {})}
    body.update({"iss": issuer, "sub": who.subject, "aud": client.client_id,
                 "iat": int(now), "exp": int(now) + lifetime})
    if who.auth_time is not None:
        body["auth_time"] = int(who.auth_time)
    if nonce is not None:
        body["nonce"] = nonce
    if who.acr is not None:
        body["acr"] = who.acr
    if who.amr:
        body["amr"] = list(who.amr)
    if access_token is not None:
        body["at_hash"] = half_hash(access_token, alg)
    if code is not None:
        body["c_hash"] = half_hash(code, alg)
    return body


async def sign(keys: SigningKeys, client: Client, body: Mapping[str, object]) -> str:
    """The compact JWS of ``body``, with the ``kid`` of the key that signed it."""
    from joserfc import jwt

    alg = algorithm(client)
    key = await keys.signing_key(alg)
    header = {"alg": alg, "typ": "JWT", "kid": key.kid}
    return jwt.encode(header, dict(body), key, algorithms=[alg])


async def hinted_subject(keys: SigningKeys, issuer: str, client: Client, hint: str) -> str:
    """The ``sub`` of an ``id_token_hint`` we issued to ``client``; invalid_request if not."""
    from joserfc import jwt
    from joserfc.jwk import KeySet

    try:
        published = KeySet.import_key_set(await keys.public_jwks())  # type: ignore[arg-type]
        token = jwt.decode(hint, published, algorithms=list(keys.algorithms))
    except Exception:  # any malformed, foreign or tampered token: one answer
        raise InvalidRequest("The id_token_hint is not an ID token of this server.") from None
    if token.header.get("typ") in _ACCESS_TOKEN_TYPES:  # an RFC 9068 token, same keys
        raise InvalidRequest("The id_token_hint is not an ID token of this server.")
    body = token.claims
    aud = body.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    sub = body.get("sub")
    if body.get("iss") != issuer or client.client_id not in audiences or not isinstance(sub, str):
        raise InvalidRequest("The id_token_hint is not an ID token of this server.")
    return sub
