"""The foreign-issuer row: an RFC 9068 token signed by a key the bench makes for the run.

The app (``bench.apps:jwt``) checks it with :class:`JWTVerifier`, whose JWKS the app
serves itself on loopback: after the first request the keys are cached and no
request touches Redis or the network, which is what the row measures.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from joserfc import jws
from joserfc.jwk import RSAKey

from bench.seed import CLIENT_ID, SCOPE

ISSUER = "https://issuer.bench.example"
AUDIENCE = "https://bench.example/api"
KID = "bench-1"


def make(workdir: Path) -> tuple[Path, str]:
    """A new RS256 key written to ``workdir`` (its path for the app), and a day-long token."""
    key = RSAKey.generate_key(2048, parameters={"kid": KID})
    path = workdir / "jwt-key.json"
    path.write_text(json.dumps(key.as_dict(private=True)))
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "bench-user", "client_id": CLIENT_ID,
              "scope": SCOPE, "iat": now, "exp": now + 24 * 3600, "jti": "bench"}
    token = jws.serialize_compact({"alg": "RS256", "typ": "at+jwt", "kid": KID},
                                  json.dumps(claims), key)
    return path, token


def public_jwks(path: Path) -> dict[str, object]:
    key = RSAKey.import_key(json.loads(path.read_text()))
    return {"keys": [key.as_dict(private=False) | {"use": "sig", "alg": "RS256"}]}
