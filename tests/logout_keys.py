"""A test-only key ring (``SigningKeys``) and ID tokens signed with joserfc, for the logout tests.

``LogoutKeys`` publishes one RSA key (and can sign with another, unpublished, to forge);
:func:`id_token` signs any claims and header, so tests can send hints our server
issued, forged ones, ``alg: none`` and HS256 keyed with the public key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from functools import cache
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ISSUER = "https://testserver/oauth"


@cache
def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


class LogoutKeys:
    """One published RSA key, ``k1``: what the server verifies hints against."""

    algorithms: tuple[str, ...] = ("RS256",)

    async def signing_key(self, alg: str) -> RSAKey:
        if alg != "RS256":
            raise LookupError(alg)
        return rsa_key("k1")

    async def public_jwks(self) -> dict[str, Any]:
        return {"keys": [rsa_key("k1").as_dict(private=False) | {"use": "sig", "alg": "RS256"}]}


def claims(sub: str = "alice", aud: str | list[str] = "web", **more: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": ISSUER, "sub": sub, "aud": aud, "iat": now, "exp": now + 300, **more}


def id_token(payload: dict[str, Any] | None = None, *, kid: str = "k1", key: str = "k1",
             alg: str = "RS256", **header: Any) -> str:
    """An ID token signed by the RSA key named ``key`` (``k1`` is published, any other is
    not), or a fresh P-256 key for ``ES256``; ``kid`` goes in its header."""
    signer: RSAKey | ECKey = rsa_key(key) if alg.startswith(("RS", "PS")) else \
        ECKey.generate_key("P-256", parameters={"kid": kid})
    return jwt.encode({"alg": alg, "kid": kid, **header}, payload or claims(), signer,
                      algorithms=[alg])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(payload: dict[str, Any] | None = None) -> str:
    """``alg: none``: a header, the claims, and no signature."""
    header = _b64(json.dumps({"alg": "none", "kid": "k1"}).encode())
    return f"{header}.{_b64(json.dumps(payload or claims()).encode())}."


def hmac_with_public_key(payload: dict[str, Any] | None = None) -> str:
    """HS256 keyed with the published key's PEM: the classic algorithm-confusion forgery
    (made by hand: joserfc itself refuses a public key as an HMAC secret)."""
    header = _b64(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    body = _b64(json.dumps(payload or claims()).encode())
    mac = hmac.new(rsa_key("k1").as_pem(private=False), f"{header}.{body}".encode(),
                   hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"
