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
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from oauth_middleware.errors import InsufficientScope, MissingToken, OAuthError
from oauth_middleware.models import AccessToken
from oauth_middleware.scopes import validate_scope

#: The name of the OAuth 2 security scheme in the OpenAPI schema, unless told otherwise.
SCHEME_NAME = "OAuth2"


def get_access_token(request: HTTPConnection) -> AccessToken | None:
    """The token the middleware validated for this request, or None when anonymous."""
    token: AccessToken | None = request.scope.get("oauth")
    return token


def _http_error(exc: OAuthError, realm: str) -> HTTPException:
    return HTTPException(exc.status_code, exc.description,
                         headers={"WWW-Authenticate": exc.www_authenticate(realm)})


def checked_token(request: HTTPConnection, scopes: Iterable[str], realm: str) -> AccessToken:
    """The request's token when it carries every scope in ``scopes``; else the 401/403."""
    token = get_access_token(request)
    if token is None:
        raise _http_error(MissingToken(), realm)
    needed = frozenset(scopes)
    if not needed <= token.scopes:
        raise _http_error(InsufficientScope(sorted(needed)), realm)
    return token


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
