"""The demo client's DPoP-bound call (RFC 9449 §5, §7): a token only its key can use.

On "Get a DPoP-bound token", the client app (server side) makes itself an EC P-256 key
for the browser's session, refreshes its tokens with a DPoP proof at ``token/`` (the new
access token comes back as ``token_type: DPoP``, bound to the key's thumbprint), then
calls the polls API with the ``DPoP`` scheme and a fresh proof for each request (``htm``,
``htu`` and ``ath``, the hash of the token). The same token sent as a plain bearer token
is shown refused: whoever steals it without the key has nothing. A server that asks for
a nonce (``use_dpop_nonce``) gets one more try with it. Proofs are signed with joserfc;
the page shows the key's thumbprint and token fingerprints, never a token or the key.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jws
from joserfc.jwk import ECKey

from oauth_middleware.dpop import ath
from oauth_middleware.security import fingerprint

#: What the DPoP-bound token calls, by scheme: the API route, then who the API sees.
CALLS = (("DPoP", "/polls/1/results"), ("DPoP", "/api/me"), ("Bearer", "/polls/1/results"))


@dataclass
class ProofKey:
    """One client key; every proof it signs is new (``jti``) and made for one request."""

    key: Any = field(default_factory=lambda: ECKey.generate_key("P-256"))

    @property
    def jkt(self) -> str:
        return str(self.key.thumbprint())

    def proof(self, method: str, url: str, *, token: str | None = None,
              nonce: str | None = None) -> str:
        claims: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url,
                                  "iat": int(time.time())}
        if token is not None:
            claims["ath"] = ath(token)
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.as_dict(private=False)}
        return jws.serialize_compact(header, json.dumps(claims).encode(), self.key,
                                     algorithms=["ES256"])


async def send(http: httpx.AsyncClient, key: ProofKey, method: str, url: str,
               token: str | None = None, **kwargs: Any) -> httpx.Response:
    """``method url`` with a proof, once more with the server's nonce if it asks for one."""
    headers = dict(kwargs.pop("headers", {}))
    nonce = None
    for _ in range(2):
        headers["DPoP"] = key.proof(method, url, token=token, nonce=nonce)
        answer = await http.request(method, url, headers=headers, **kwargs)
        nonce = answer.headers.get("dpop-nonce")
        if answer.status_code not in (400, 401) or nonce is None or \
                "use_dpop_nonce" not in answer.text + answer.headers.get("www-authenticate", ""):
            return answer
    return answer


async def bound_call(http: httpx.AsyncClient, key: ProofKey, base_url: str,
                     refresh_token: str, auth: tuple[str, str]) -> tuple[dict[str, Any], str]:
    """Refresh with a proof, call the API with the bound token; what the page shows, and
    the rotated refresh token ("" when the token endpoint refused)."""
    answer = await send(http, key, "POST", f"{base_url}/oauth/token/", auth=auth,
                        data={"grant_type": "refresh_token", "refresh_token": refresh_token})
    body = answer.json()
    if answer.status_code != 200:
        return {"error": f"The token endpoint answered {answer.status_code} "
                         f"{body.get('error')}."}, ""
    token = body["access_token"]
    calls = []
    for scheme, path in CALLS:
        url = f"{base_url}{path}"
        if scheme == "DPoP":
            reply = await send(http, key, "GET", url, token,
                               headers={"Authorization": f"DPoP {token}"})
        else:
            reply = await http.get(url, headers={"Authorization": f"Bearer {token}"})
        calls.append({"scheme": scheme, "path": path, "status": reply.status_code,
                      "body": reply.text,
                      "challenge": reply.headers.get("www-authenticate", "")})
    return {"jkt": key.jkt, "token_type": body.get("token_type"),
            "access": fingerprint(token), "calls": calls}, str(body.get("refresh_token", ""))
