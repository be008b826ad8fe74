"""A DPoP client's key and proofs, built with joserfc as a client library would (RFC 9449 §4).

``Holder`` makes a fresh key and signs proofs; every argument that a check looks at can
be set wrong on purpose (method, URL, iat, jti, ath, nonce, alg, typ, extra header
members), so each test says exactly which one it breaks.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey

from oauth_middleware.dpop import ath


class Holder:
    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        if alg.startswith("ES"):
            self.key: Any = ECKey.generate_key({"ES256": "P-256", "ES384": "P-384"}[alg])
        elif alg == "Ed25519":
            self.key = OKPKey.generate_key("Ed25519")
        else:
            self.key = RSAKey.generate_key(2048)

    @property
    def jkt(self) -> str:
        return str(self.key.thumbprint())

    def public_jwk(self) -> dict[str, Any]:
        return dict(self.key.as_dict(private=False))

    def proof(self, method: str, url: str, *, now: float | None = None,
              access_token: str | None = None, jti: str | None = None,
              nonce: str | None = None, header: dict[str, Any] | None = None,
              claims: dict[str, Any] | None = None) -> str:
        body: dict[str, Any] = {"jti": jti or secrets.token_urlsafe(12), "htm": method,
                                "htu": url, "iat": int(time.time() if now is None else now)}
        if access_token is not None:
            body["ath"] = ath(access_token)
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims or {})
        protected = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk(),
                     **(header or {})}
        return jws.serialize_compact(protected, json.dumps(body).encode(), self.key,
                                     algorithms=[self.alg])


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS whose parts are exactly these (for alg none and forged HS256 proofs)."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return ".".join((part(json.dumps(header).encode()), part(json.dumps(claims).encode()),
                     part(signature) if signature else ""))
