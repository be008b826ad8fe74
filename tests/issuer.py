"""A small foreign issuer for JWTVerifier's tests: RFC 8414 or OIDC metadata, a JWKS, RFC 9068
tokens, run by uvicorn (``tests.issuer:create_app --factory``) in its own process.

Environment: ``ISSUER_PORT`` (its port), ``ISSUER_PATH`` (the issuer's path, e.g.
``/realms/a``), ``ISSUER_DISCOVERY`` (``rfc8414``, ``oidc`` or ``appended``), ``ISSUER_KID`` (the
first key's id), ``ISSUER_MAX_AGE`` (the JWKS ``Cache-Control: max-age``).
Test-only control routes, loopback only: ``POST /mint`` signs the claims and header
it is given (with joserfc, or with Authlib's JWT tooling for interoperability),
``POST /rotate`` adds a key, ``POST /retire`` removes one, ``GET /stats`` counts
the JWKS fetches, ``POST /reset`` starts over.
"""

from __future__ import annotations

import json
import os
from typing import Any

from authlib.jose import JsonWebKey
from authlib.jose import jwt as authlib_jwt
from joserfc import jws
from joserfc.jwk import RSAKey
from joserfc.registry import HeaderParameter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class Issuer:
    def __init__(self) -> None:
        self.port = int(os.environ["ISSUER_PORT"])
        self.issuer = f"http://127.0.0.1:{self.port}{os.environ.get('ISSUER_PATH', '')}"
        self.discovery = os.environ.get("ISSUER_DISCOVERY", "rfc8414")
        self.max_age = os.environ.get("ISSUER_MAX_AGE", "120")
        self.reset()

    def reset(self) -> None:
        kid = os.environ.get("ISSUER_KID", "k1")
        self.keys = {kid: RSAKey.generate_key(2048, parameters={"kid": kid})}
        self.fetches = 0

    def metadata_path(self) -> str:
        path = os.environ.get("ISSUER_PATH", "")
        if self.discovery == "oidc":
            return path + "/.well-known/openid-configuration"
        if self.discovery == "appended":  # where our own server, mounted at a path, answers
            return path + "/.well-known/oauth-authorization-server"
        return "/.well-known/oauth-authorization-server" + path

    async def metadata(self, request: Request) -> Response:
        return JSONResponse({"issuer": self.issuer, "jwks_uri": self.issuer + "/jwks",
                             "token_endpoint": self.issuer + "/token"})

    async def jwks(self, request: Request) -> Response:
        self.fetches += 1
        keys = [key.as_dict(private=False) | {"use": "sig", "alg": "RS256"}
                for key in self.keys.values()]
        return JSONResponse({"keys": keys},
                            headers={"Cache-Control": f"public, max-age={self.max_age}"})

    async def mint(self, request: Request) -> Response:
        spec: dict[str, Any] = await request.json()
        key = self.keys[spec.get("kid") or next(iter(self.keys))]
        header = {"alg": "RS256", "typ": "at+jwt", "kid": key.kid} | spec.get("header", {})
        header = {name: value for name, value in header.items() if value is not None}
        claims = {"iss": self.issuer} | spec["claims"]
        if spec.get("lib") == "authlib":
            private = JsonWebKey.import_key(key.as_dict(private=True))
            token = authlib_jwt.encode(header, claims, private).decode()
        else:
            payload = spec.get("payload") or json.dumps(claims)
            # Any header the test asks for, "crit" ones included: this issuer signs as told.
            registry = jws.JWSRegistry(header_registry={
                name: HeaderParameter(name, lambda value: None) for name in header.get("crit", [])},
                algorithms=[header["alg"]])
            token = jws.serialize_compact(header, payload, key, registry=registry)
        return JSONResponse({"token": token})

    async def rotate(self, request: Request) -> Response:
        kid = (await request.json())["kid"]
        self.keys[kid] = RSAKey.generate_key(2048, parameters={"kid": kid})
        return JSONResponse({"kids": list(self.keys)})

    async def retire(self, request: Request) -> Response:
        del self.keys[(await request.json())["kid"]]
        return JSONResponse({"kids": list(self.keys)})

    async def stats(self, request: Request) -> Response:
        return JSONResponse({"fetches": self.fetches})

    async def restart(self, request: Request) -> Response:
        self.reset()
        return JSONResponse({"kids": list(self.keys)})


def create_app() -> Starlette:
    issuer = Issuer()
    path = os.environ.get("ISSUER_PATH", "")
    return Starlette(routes=[
        Route(issuer.metadata_path(), issuer.metadata),
        Route(path + "/jwks", issuer.jwks),
        Route("/mint", issuer.mint, methods=["POST"]),
        Route("/rotate", issuer.rotate, methods=["POST"]),
        Route("/retire", issuer.retire, methods=["POST"]),
        Route("/stats", issuer.stats),
        Route("/reset", issuer.restart, methods=["POST"]),
    ])
