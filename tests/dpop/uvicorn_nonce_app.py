"""App factory for resource nonces over real HTTP: ``uvicorn --factory
tests.dpop.uvicorn_nonce_app:build``.

``/me`` behind a middleware with ``dpop_nonce=60`` and ``require_dpop`` on the Redis named
by ``REDIS_URL``, debug mode (plain HTTP on loopback), public URL from ``OM_BASE``.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.routing import Route

from oauth_middleware import OAuthMiddleware, TokenStore
from tests.server.token_harness import me


def build() -> Starlette:
    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(OAuthMiddleware, store=TokenStore.from_url(os.environ["REDIS_URL"]),
                       scopes={"/me": []}, debug=True, public_url=os.environ["OM_BASE"],
                       dpop_nonce=60, require_dpop=True)
    return app
