"""``uvicorn --factory tests.bearer_host:create_app``: the README's host, with a bearer middleware.

The authorization server and the admin mounted as the README shows them, the
admin guarded by the README's first ``is_admin`` recipe (``request.user``), and
``OAuthMiddleware`` inside or outside the session middleware (``OM_ORDER``).
The session is stood in for by an ``x-test-user`` header. ``REDIS_URL`` and
``OM_PORT`` name the store and the port the server is started on.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.routing import Mount

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.admin import AdminApp
from oauth_middleware.server import AuthorizationServer
from tests.admin.harness import HeaderUsers

KEY = "bearer-host-secret-key-0123456789abcdef"
ADMINS = {"alice"}
ORDERS = ("oauth-inside-session", "oauth-outside-session")


def readme_is_admin(request: Request) -> bool:
    return bool(request.user.is_authenticated and request.user.identity in ADMINS)


def create_app() -> Starlette:
    store = TokenStore.from_url(os.environ["REDIS_URL"])
    base = f"http://127.0.0.1:{os.environ['OM_PORT']}"
    server = AuthorizationServer(store=store, issuer=f"{base}/oauth", secret_key=KEY,
                                 debug=True)
    admin = AdminApp(store=store, is_admin=readme_is_admin, secret_key=KEY, debug=True)
    session = [Middleware(AuthenticationMiddleware, backend=HeaderUsers())]
    oauth = [Middleware(OAuthMiddleware, store=store, debug=True)]
    inside = os.environ["OM_ORDER"] == ORDERS[0]
    return Starlette(routes=[Mount("/oauth", server), Mount("/admin", admin)],
                     middleware=session + oauth if inside else oauth + session)
