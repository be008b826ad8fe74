"""The token for endpoints and FastAPI dependencies (RFC 6750 §3, Starlette's auth contract).

``OAuthMiddleware`` leaves the validated :class:`AccessToken` in ``scope["oauth"]``.
These helpers read it. Starlette endpoints call them with the request;
FastAPI takes :class:`RequireScopes` as a security dependency, with ``Depends``
or ``Security`` (whose ``scopes=`` add to the ones given here)::

    @app.post("/polls/{poll_id}/vote")
    async def vote(token: AccessToken = Depends(RequireScopes("polls:vote"))): ...

    require_token = RequireScopes()
    @app.get("/polls")
    async def polls(token: AccessToken = Security(require_token, scopes=["polls:read"])): ...

Either way FastAPI's OpenAPI schema lists the operation's scopes under the
``OAuth2`` security scheme (see :mod:`oauth_middleware.openapi`, which also
points the scheme at the mounted server). FastAPI stays optional: it is imported
only when FastAPI itself asks for the dependency's signature.

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

import inspect
from collections.abc import Iterable

from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import Scope

from oauth_middleware.error_response import WS_POLICY_VIOLATION, ErrorResponse, render
from oauth_middleware.errors import OAuthError
from oauth_middleware.models import AccessToken
from oauth_middleware.resource_metadata import RESOURCE_METADATA_KEY
from oauth_middleware.scopes import validate_scope
from oauth_middleware.verdict import refusal

#: Where Starlette's ExceptionMiddleware leaves its handler tables for the app below it.
_HANDLERS = "starlette.exception_handlers"


class Refused(HTTPException):
    """A dependency's refusal; :func:`refused_response` answers it like the middleware."""

    def __init__(self, error: OAuthError, realm: str,
                 resource_metadata: str | None = None) -> None:
        self.error = error
        self.answer: ErrorResponse = render(error, realm, resource_metadata)
        super().__init__(error.status_code, error.description, headers={
            name.decode(): value.decode() for name, value in self.answer.headers
            if name not in (b"content-type", b"content-length")})


async def refused_response(request: Request, exc: Exception) -> Response:
    """The exception handler for :class:`Refused` (``app.add_exception_handler``)."""
    if not isinstance(exc, Refused):
        raise exc
    return exc.answer.response()

#: The name of the OAuth 2 security scheme in the OpenAPI schema, unless told otherwise.
SCHEME_NAME = "OAuth2"


def get_access_token(request: HTTPConnection) -> AccessToken | None:
    """The token the middleware validated for this request, or None when anonymous."""
    token: AccessToken | None = request.scope.get("oauth")
    return token


def checked_token(request: HTTPConnection, scopes: Iterable[str], realm: str) -> AccessToken:
    """The request's token when it carries every scope in ``scopes``; else the refusal,
    rendered like the middleware's (with its reason when it dropped the token)."""
    needed = frozenset(scopes)
    error = refusal(request.scope, needed)
    if error is None:
        token: AccessToken = request.scope["oauth"]
        return token
    if request.scope["type"] == "websocket":
        raise WebSocketException(code=WS_POLICY_VIOLATION, reason=error.error)
    _answered_by_renderer(request.scope)
    raise Refused(error, realm, request.scope.get(RESOURCE_METADATA_KEY))


class RequireScopes:
    """A dependency returning the request's token, refusing 401/403 like the middleware.

    For FastAPI its signature (:attr:`__signature__`, which FastAPI reads like any
    function's) is one parameter, ``Security(<OAuth2 scheme>, scopes=<these scopes>)``:
    FastAPI then checks the scheme with these scopes plus any ``Security(...,
    scopes=[...])`` above it (``SecurityScopes``), and documents all of them on the
    operation, whether this dependency was given with ``Depends`` or ``Security``.
    """

    def __init__(self, *scopes: str, realm: str = "api", scheme_name: str = SCHEME_NAME) -> None:
        self.scopes = frozenset(validate_scope(s) for s in scopes)
        self.realm = realm
        self.scheme_name = scheme_name
        self._signature: inspect.Signature | None = None

    @property
    def __signature__(self) -> inspect.Signature:
        if self._signature is None:
            from fastapi import Security  # only FastAPI asks for it, so FastAPI is installed

            from oauth_middleware.openapi import OAuth2Scheme

            scheme = OAuth2Scheme(realm=self.realm, scheme_name=self.scheme_name)
            self._signature = inspect.Signature([inspect.Parameter(
                "token", inspect.Parameter.KEYWORD_ONLY, annotation=AccessToken,
                default=Security(scheme, scopes=sorted(self.scopes)))])
        return self._signature

    def __call__(self, request: HTTPConnection | None = None, *,
                 token: AccessToken | None = None) -> AccessToken:
        """FastAPI passes the ``token`` its scheme checked; Starlette code passes the request."""
        if token is not None:
            return token
        if request is None:
            raise TypeError("RequireScopes(...) takes the request")
        return checked_token(request, self.scopes, self.realm)

    def __repr__(self) -> str:
        return f"RequireScopes({', '.join(sorted(self.scopes))})"


def _answered_by_renderer(scope: Scope) -> None:
    tables = scope.get(_HANDLERS)
    if isinstance(tables, tuple) and tables and isinstance(tables[0], dict):
        tables[0].setdefault(Refused, refused_response)
