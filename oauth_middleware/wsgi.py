"""Bearer tokens for WSGI apps (Flask, Django, Bottle) under an ASGI server (RFC 6750).

The WSGI app is wrapped by a2wsgi's ``WSGIMiddleware`` (Starlette's own WSGI
adapter is deprecated) and then by the same :class:`OAuthMiddleware`, so every
refusal, scope rule and Redis read is exactly the ASGI one. The validated token
reaches the WSGI app through ``environ["asgi.scope"]``; :func:`wsgi_token` reads
it. Install with ``pip install "oauth-middleware[wsgi]"``.

A WSGI app has no routes the middleware could read, so its mapping is explicit:
an ``AUTO`` entry is refused here, at construction, rather than on the first
request. The explicit rules are final at once, so the middleware never binds
them to the routes of some enclosing Starlette app it happens to be mounted in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oauth_middleware.middleware import OAuthMiddleware
from oauth_middleware.models import AccessToken
from oauth_middleware.scopes import ScopeSpec, _Auto
from oauth_middleware.store import TokenStore


def protect_wsgi(
    wsgi_app: Any, *, store: TokenStore, scopes: Mapping[str, ScopeSpec] | None = None,
    **options: Any,
) -> OAuthMiddleware:
    """An ASGI app serving ``wsgi_app`` behind :class:`OAuthMiddleware` (same options)."""
    try:
        from a2wsgi import WSGIMiddleware
    except ImportError:  # pragma: no cover - depends on the optional extra
        message = 'WSGI support needs a2wsgi: pip install "oauth-middleware[wsgi]"'
        raise ImportError(message) from None
    for key, spec in (scopes or {}).items():
        if isinstance(spec, _Auto):
            raise ValueError(f"scopes[{key!r}] is AUTO, which needs Starlette routes: a WSGI "
                             'app names its scopes, e.g. {"GET /items": "items:read"}')
    asgi_app: Any = WSGIMiddleware(wsgi_app)  # a2wsgi's precise ASGI types vs Starlette's
    protected = OAuthMiddleware(asgi_app, store=store, scopes=scopes, **options)
    protected.policy.bound = True  # explicit rules only: nothing left to resolve from routes
    return protected


def wsgi_token(environ: Mapping[str, Any]) -> AccessToken | None:
    """The token the middleware validated for this WSGI request, or None when anonymous.

    In a Flask view: ``wsgi_token(flask.request.environ)``; in a Django view served
    through a WSGI handler: ``wsgi_token(request.META)``.
    """
    scope = environ.get("asgi.scope") or {}
    token: AccessToken | None = scope.get("oauth")
    return token
