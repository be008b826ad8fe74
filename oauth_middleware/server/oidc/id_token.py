"""ID tokens (OpenID Connect Core 1.0 §2, §3.1.3.6, §3.2.2.10): claims and signing.

Signed with the server's key ring (:class:`~oauth_middleware.signing.SigningKeys`):
``RS256`` unless the client registered ``id_token_signed_response_alg``. joserfc (the
``jwt`` extra) is imported on first use, so a server that never signs needs none.
``aud`` is the client id alone, so ``azp`` is never needed (§2). An ID token sent back
as ``id_token_hint`` is checked by :mod:`oauth_middleware.server.id_token_hint`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from oauth_middleware.errors import InvalidRequest
from oauth_middleware.models import Client
from oauth_middleware.security import half_hash
from oauth_middleware.signing import SigningKeys, sign_compact

#: What every ID token is signed with unless its client asked otherwise (§15.1: required).
DEFAULT_ALG = "RS256"


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
    alg = algorithm(client)
    key = await keys.signing_key(alg)
    return sign_compact(key, alg, "JWT", body)
