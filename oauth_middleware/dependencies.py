"""The token for endpoints and FastAPI dependencies (RFC 6750 §3, Starlette's auth contract).

``OAuthMiddleware`` leaves the validated :class:`AccessToken` in ``scope["oauth"]``.
These helpers read it. They take a plain ``Request``, so FastAPI can use them
with ``Depends`` and Starlette endpoints can call them directly::

    @app.get("/polls/{poll_id}/vote")
    async def vote(token: AccessToken = Depends(RequireScopes("polls:vote"))): ...

A refusal is raised as :class:`~oauth_middleware.verdict.Refused`, which the
middleware (added with ``app.add_middleware``, inside the framework's error
handling) answers with the one renderer: the same status, challenge, JSON body
and ``Cache-Control`` as its own refusals, and the middleware's reason when it
dropped the request's token (``invalid_token`` for a garbage one). Without the
middleware there is no token to find: the refusal is then an ``HTTPException``
carrying the same status and headers, answered by the framework.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException, WebSocketException
from starlette.requests import HTTPConnection

from oauth_middleware.error_response import render
from oauth_middleware.middleware import WS_POLICY_VIOLATION
from oauth_middleware.models import AccessToken
from oauth_middleware.scopes import validate_scope
from oauth_middleware.verdict import VERDICT_KEY, Refused, refusal


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
        if VERDICT_KEY in request.scope:
            raise Refused(error, self.realm)
        answer = render(error, self.realm)
        raise HTTPException(answer.status, error.description, headers={
            k.decode(): v.decode() for k, v in answer.headers
            if k not in (b"content-type", b"content-length")})

    def __repr__(self) -> str:
        return f"RequireScopes({', '.join(sorted(self.scopes))})"
