"""The token for endpoints and FastAPI dependencies (RFC 6750 §3, Starlette's auth contract).

``OAuthMiddleware`` leaves the validated :class:`AccessToken` in ``scope["oauth"]``.
These helpers read it. They take a plain ``Request``, so FastAPI can use them
with ``Depends`` and Starlette endpoints can call them directly::

    @app.get("/polls/{poll_id}/vote")
    async def vote(token: AccessToken = Depends(RequireScopes("polls:vote"))): ...
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from oauth_middleware.errors import InsufficientScope, MissingToken, OAuthError
from oauth_middleware.models import AccessToken
from oauth_middleware.scopes import validate_scope


def get_access_token(request: HTTPConnection) -> AccessToken | None:
    """The token the middleware validated for this request, or None when anonymous."""
    token: AccessToken | None = request.scope.get("oauth")
    return token


def _http_error(exc: OAuthError, realm: str) -> HTTPException:
    return HTTPException(exc.status_code, exc.description,
                         headers={"WWW-Authenticate": exc.www_authenticate(realm)})


class RequireScopes:
    """A dependency returning the request's token, refusing 401/403 like the middleware."""

    def __init__(self, *scopes: str, realm: str = "api") -> None:
        self.scopes = frozenset(validate_scope(s) for s in scopes)
        self.realm = realm

    def __call__(self, request: HTTPConnection) -> AccessToken:
        token = get_access_token(request)
        if token is None:
            raise _http_error(MissingToken(), self.realm)
        if not self.scopes <= token.scopes:
            raise _http_error(InsufficientScope(sorted(self.scopes)), self.realm)
        return token

    def __repr__(self) -> str:
        return f"RequireScopes({', '.join(sorted(self.scopes))})"
