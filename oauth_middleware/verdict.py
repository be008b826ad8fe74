"""What the middleware concluded about a request's bearer token (RFC 6750 §3.1).

On an unlisted route the middleware lets every request through, so a garbage,
revoked or plain-HTTP token is dropped, not refused. It records why in
``scope[VERDICT_KEY]``; a later layer that needs a token (``@oauth_required``,
``RequireScopes``) answers with that reason — ``invalid_token`` for a garbage
token — instead of "a bearer token is required".
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import Scope

from oauth_middleware.errors import InsufficientScope, MissingToken, OAuthError
from oauth_middleware.models import AccessToken

#: Where the middleware leaves its :class:`Verdict` in the ASGI scope.
VERDICT_KEY = "oauth.verdict"


@dataclass(frozen=True, slots=True)
class Verdict:
    """``error`` is the refusal the request would get on a protected route: None when its
    token was accepted (``scope["oauth"]``), :class:`MissingToken` when it sent none."""

    error: OAuthError | None


#: A request whose token was accepted, and one that sent none.
ACCEPTED = Verdict(None)
NO_TOKEN = Verdict(MissingToken())


def refusal(scope: Scope, required: frozenset[str] | None) -> OAuthError | None:
    """The refusal a later layer answers, or None when the request has what it needs.

    ``required`` None means a scope that could not be determined: no token carries it.
    """
    token: AccessToken | None = scope.get("oauth")
    if token is None:
        verdict: Verdict | None = scope.get(VERDICT_KEY)
        if verdict is not None and verdict.error is not None:
            return verdict.error
        return MissingToken()
    if required is None:
        return InsufficientScope((), "The scope this endpoint needs is unknown.")
    if not required <= token.scopes:
        return InsufficientScope(sorted(required))
    return None
