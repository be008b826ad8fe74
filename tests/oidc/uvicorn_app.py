"""``uvicorn --factory tests.oidc.uvicorn_app:build``: the OpenID Provider test host as a real
server. Every worker loads the same signing keys from ``OM_TEST_KEYS`` (private JWKs the
test made), so an ID token signed by one worker verifies against the JWKS of another; the
JWKS is served at the host's ``/jwks`` (the store-backed key ring publishes its own)."""

from __future__ import annotations

import json
import os

from joserfc.jwk import JWKRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oauth_middleware import TokenStore
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.server.oidc import OpenIDProvider
from tests.oidc.harness import authenticate, userinfo
from tests.oidc_keys import TestKeys
from tests.server.authorize_harness import SECRET_KEY, host_app


def build() -> Starlette:
    private = json.loads(os.environ["OM_TEST_KEYS"])
    keys = TestKeys({jwk["alg"]: JWKRegistry.import_key(jwk) for jwk in private})
    server = AuthorizationServer(
        store=TokenStore.from_url(os.environ["REDIS_URL"]), issuer=os.environ["OM_ISSUER"],
        secret_key=SECRET_KEY, signing_keys=keys, authenticate=authenticate,
        openid=OpenIDProvider(userinfo=userinfo))

    async def jwks(request: Request) -> Response:
        return JSONResponse(await keys.public_jwks())

    app = host_app(server)
    app.router.routes.insert(0, Route("/jwks", jwks))
    return app
