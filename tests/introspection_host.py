"""Our authorization server alone, for IntrospectionVerifier's tests (``uvicorn --factory``).

Reads ``REDIS_URL`` and ``OM_PORT``; the issuer is ``http://127.0.0.1:<port>/oauth``, and a
client_credentials token carrying ``introspect`` may introspect every client's tokens.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.routing import Mount

from oauth_middleware import TokenStore
from oauth_middleware.server import AuthorizationServer

INTROSPECTION_SCOPE = "introspect"


def create_app() -> Starlette:
    store = TokenStore.from_url(os.environ["REDIS_URL"])
    server = AuthorizationServer(store=store, secret_key=b"i" * 32,
                                 issuer=f"http://127.0.0.1:{os.environ['OM_PORT']}/oauth",
                                 introspection_scope=INTROSPECTION_SCOPE)
    return Starlette(routes=[Mount("/oauth", server)])
