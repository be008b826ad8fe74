"""Bearer tokens for WSGI apps (Flask, Django, Bottle) under an ASGI server (RFC 6750).

The WSGI app is wrapped by a2wsgi's ``WSGIMiddleware`` (Starlette's own WSGI
adapter is deprecated) and then by the same :class:`OAuthMiddleware`, so every
refusal, scope rule and Redis read is exactly the ASGI one. The validated token
reaches the WSGI app through ``environ["asgi.scope"]``; :func:`wsgi_token` reads
it. Install with ``pip install "oauth-middleware[wsgi]"``. ``AUTO`` scopes need
Starlette routes, so a WSGI app lists its scopes explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oauth_middleware.middleware import OAuthMiddleware
from oauth_middleware.models import AccessToken
from oauth_middleware.scopes import ScopeSpec
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
    asgi_app: Any = WSGIMiddleware(wsgi_app)  # a2wsgi's precise ASGI types vs Starlette's
    return OAuthMiddleware(asgi_app, store=store, scopes=scopes, **options)


def wsgi_token(environ: Mapping[str, Any]) -> AccessToken | None:
    """The token the middleware validated for this WSGI request, or None when anonymous."""
    scope = environ.get("asgi.scope") or {}
    token: AccessToken | None = scope.get("oauth")
    return token
