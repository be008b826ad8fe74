"""The Django project's ASGI application, protected, with the authorization server beside it.

Run it with ``uvicorn examples.django_project.asgi:application``. A small Starlette
app sits in front: it serves the authorization server at ``/oauth`` (and its RFC 8414
metadata route), runs the start-up provisioning in its lifespan (Django's ASGI
handler has none) and sends everything else to Django through
:class:`~oauth_middleware.OAuthMiddleware` with an explicit scope mapping, both
from one :class:`~oauth_middleware.OAuth` configuration.
Settings come from the environment: see :mod:`examples.provisioning`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from django.core.asgi import get_asgi_application
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from examples.provisioning import oauth_from_env, provision

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_project.settings")
django_app = get_asgi_application()

#: Django has no routes the middleware could read, so every scope is named here.
SCOPES = {"GET /items": "items:read", "POST /items": "items:write"}

oauth = oauth_from_env()
server = oauth.server(grants=["client_credentials"])


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    await provision(oauth.store)
    yield
    await oauth.store.aclose()


application = Starlette(
    routes=[
        Mount("/oauth", server),
        # RFC 8414 §3.1: /.well-known/oauth-authorization-server/oauth for issuer .../oauth
        Route(server.metadata_path, server.metadata_endpoint),
        Mount("/", oauth.middleware(django_app, scopes=SCOPES)),
    ],
    lifespan=lifespan,
)
