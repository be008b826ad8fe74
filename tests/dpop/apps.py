"""The DPoP test app: the authorization server at ``/oauth`` and a protected ``/me``.

The middleware is told its public URL (``https://testserver``, where the tests'
client sends requests), so proofs name ``https://testserver/me``; token requests'
proofs name the issuer's ``token/`` URL, whatever host the request came to.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.server import AuthorizationServer
from tests.server.token_harness import ISSUER, SECRET_KEY, me

PUBLIC_URL = "https://testserver"
ME = f"{PUBLIC_URL}/me"
TOKEN_URL = f"{ISSUER}/token/"


def build_app(store: TokenStore, *, public_url: str | None = PUBLIC_URL,
              **options: Any) -> Starlette:
    options.setdefault("issuer", ISSUER)
    options.setdefault("secret_key", SECRET_KEY)
    server = AuthorizationServer(store=store, **options)
    app = Starlette(routes=[Mount("/oauth", server), Route("/me", me, methods=["GET", "POST"])])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/me": []},
                       debug=options.get("debug", False), public_url=public_url)
    return app
