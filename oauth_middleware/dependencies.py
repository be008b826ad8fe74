"""The token for endpoints and FastAPI dependencies (RFC 6750 §3, Starlette's auth contract).

``OAuthMiddleware`` leaves the validated :class:`AccessToken` in ``scope["oauth"]``.
These helpers read it. They take a plain ``Request``, so FastAPI can use them
with ``Depends`` and Starlette endpoints can call them directly::

    @app.get("/polls/{poll_id}/vote")
    async def vote(token: AccessToken = Depends(RequireScopes("polls:vote"))): ...

A refusal is raised as :class:`Refused`, an ``HTTPException`` carrying the one
renderer's answer (:mod:`oauth_middleware.error_response`): with the middleware's
reason when it dropped the request's token (``invalid_token`` for a garbage one).
Before raising, the dependency makes sure the app that runs it answers
:class:`Refused` with that rendering (``setdefault`` in the handler table
Starlette's ``ExceptionMiddleware`` puts in the scope, so a handler of the
host's own wins); a framework's plain ``HTTPException`` handler would write
``{"detail": ...}`` instead of the JSON every other refusal has.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Scope

from oauth_middleware.error_response import ErrorResponse, render
from oauth_middleware.errors import OAuthError
from oauth_middleware.middleware import WS_POLICY_VIOLATION
from oauth_middleware.models import AccessToken
from oauth_middleware.scopes import validate_scope
from oauth_middleware.verdict import refusal

#: Where Starlette's ExceptionMiddleware leaves its handler tables for the app below it.
_HANDLERS = "starlette.exception_handlers"


class Refused(HTTPException):
    """A dependency's refusal; :func:`refused_response` answers it like the middleware."""

    def __init__(self, error: OAuthError, realm: str) -> None:
        self.error = error
        self.answer: ErrorResponse = render(error, realm)
        super().__init__(error.status_code, error.description, headers={
            name.decode(): value.decode() for name, value in self.answer.headers
            if name not in (b"content-type", b"content-length")})


async def refused_response(request: Request, exc: Exception) -> Response:
    """The exception handler for :class:`Refused` (``app.add_exception_handler``)."""
    if not isinstance(exc, Refused):
        raise exc
    return exc.answer.response()


def get_access_token(request: HTTPConnection) -> AccessToken | None:
    """The token the middleware validated for this request, or None when anonymous."""
    token: AccessToken | None = request.scope.get("oauth")
    return token


class RequireScopes:
    """A dependency returning the request's token, refusing 401/403 like the middleware."""

    def __init__(self, *scopes: str, realm: str = "api") -> None:
        self.scopes = frozenset(validate_scope(s) for s in scopes)
        self.realm = realm

    def __call__(self, request: HTTPConnection) -> AccessToken:
        error = refusal(request.scope, self.scopes)
        if error is None:
            token: AccessToken = request.scope["oauth"]
            return token
        if request.scope["type"] == "websocket":
            raise WebSocketException(code=WS_POLICY_VIOLATION, reason=error.error)
        _answered_by_renderer(request.scope)
        raise Refused(error, self.realm)

    def __repr__(self) -> str:
        return f"RequireScopes({', '.join(sorted(self.scopes))})"


def _answered_by_renderer(scope: Scope) -> None:
    tables = scope.get(_HANDLERS)
    if isinstance(tables, tuple) and tables and isinstance(tables[0], dict):
        tables[0].setdefault(Refused, refused_response)
