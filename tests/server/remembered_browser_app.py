"""The ``auth/`` test host with remembered consent, logout and the admin, for chromium.

``uvicorn --factory tests.server.remembered_browser_app:create_app``: the host of
:mod:`tests.server.authorize_harness` (session login, callback page) with
``remember_consent`` on, a ``logout`` hook that clears the session, and the admin
mounted at ``/admin`` for alice.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.routing import Mount, Route

from oauth_middleware import TokenStore
from oauth_middleware.admin import AdminApp
from oauth_middleware.server import AuthorizationServer
from tests.server.authorize_harness import (
    SECRET_KEY,
    HeaderOrSessionBackend,
    callback,
    login,
    whoami,
)


async def end_host_session(request: Request) -> None:
    request.session.clear()


def create_app() -> Starlette:
    store = TokenStore.from_url(os.environ["REDIS_URL"])
    server = AuthorizationServer(store=store, issuer=os.environ["OM_ISSUER"],
                                 secret_key=SECRET_KEY, debug=True,
                                 remember_consent=3600, logout=end_host_session)
    admin = AdminApp(store=store, secret_key=SECRET_KEY, debug=True,
                     is_admin=lambda request: request.user.identity == "alice")
    return Starlette(
        routes=[Route("/login", login, methods=["GET", "POST"]), Route("/cb", callback),
                Route("/whoami", whoami), Mount("/oauth", server), Mount("/admin", admin)],
        middleware=[Middleware(SessionMiddleware, secret_key=SECRET_KEY),
                    Middleware(AuthenticationMiddleware, backend=HeaderOrSessionBackend())],
    )
