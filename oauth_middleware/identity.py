"""Who a request stands for: a person's login, or an OAuth credential (RFC 6749 §3.1, §10.2).

Identity has two sources that never mix. The host app's own login (its session)
says which *person* is present; only that may sign a person in at ``auth/`` or
the admin (RFC 9700 §4.14: the resource owner authenticates with the
authorization server itself, never with a token it issued). An access token
says which user a *client* acts for, or which client acts for itself
(client_credentials); the middleware turns it into a :class:`TokenUser` or a
:class:`ClientUser`, types that :func:`logged_in_user` refuses whatever their
name. A client's identity is never a user id: ``ClientUser.identity`` is the
empty string, which no login ever names (an empty answer means "nobody").

:func:`carries_bearer` is the other half: a request to ``auth/`` or the admin
that carries a bearer token (RFC 6750 §2: header, form body or query) is refused
outright, so no host hook can mistake it for a login, whatever it reads and
whichever order the middlewares run in.
"""

from __future__ import annotations

import re

from starlette.authentication import BaseUser
from starlette.requests import HTTPConnection

from oauth_middleware.extraction import has_access_token
from oauth_middleware.models import AccessToken

#: ``Bearer`` or ``DPoP`` (RFC 9449 §7.1): either scheme carries an access token.
_BEARER = re.compile(rb"[ \t]*(?:bearer|dpop)(?:[ \t,]|$)", re.IGNORECASE)
#: The form field and query parameter a bearer token travels in (RFC 6750 §2.2, §2.3).
ACCESS_TOKEN_PARAM = "access_token"


class TokenIdentity(BaseUser):
    """``request.user`` derived from a bearer token: never a logged-in person."""

    __slots__ = ("token",)

    def __init__(self, token: AccessToken) -> None:
        self.token = token

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def client_id(self) -> str:
        return self.token.client_id


class TokenUser(TokenIdentity):
    """A token acting for a user: ``identity`` is that user's id."""

    __slots__ = ()

    @property
    def display_name(self) -> str:
        return self.token.subject

    @property
    def identity(self) -> str:
        return self.token.subject

    def __repr__(self) -> str:
        return f"TokenUser({self.token.subject!r}, client={self.token.client_id!r})"


class ClientUser(TokenIdentity):
    """A client acting for itself (client_credentials): no user at all.

    ``identity`` is ``""`` so that code comparing it with user ids never matches
    a user who happens to share the client's id; name the client by ``client_id``.
    """

    __slots__ = ()

    @property
    def display_name(self) -> str:
        return f"client {self.token.client_id}"

    @property
    def identity(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"ClientUser(client={self.token.client_id!r})"


def token_identity(token: AccessToken) -> TokenIdentity:
    """The ``request.user`` a valid token stands for."""
    return TokenUser(token) if token.subject_type == "user" else ClientUser(token)


def logged_in_user(request: HTTPConnection) -> str | None:
    """The host login's user id from ``request.user``; None for anyone else.

    Anonymous, a token-derived identity (by type), and any request the bearer
    middleware has seen a token on (``scope["oauth"]``) all answer None.
    """
    user = request.scope.get("user")
    if user is None or isinstance(user, TokenIdentity) or request.scope.get("oauth"):
        return None
    if not getattr(user, "is_authenticated", False):
        return None
    return str(user.identity) or None


def carries_bearer(request: HTTPConnection) -> bool:
    """True when the request carries a bearer credential (RFC 6750 §2.1, §2.3) in its
    headers or query, or the middleware attached a token's identity to it.

    Deliberately broader than extraction: an ``Authorization: Bearer`` header
    with any value or none, and an ``access_token`` parameter even empty or
    already redacted by the middleware. A form body is the caller's to check
    (with :data:`ACCESS_TOKEN_PARAM`) once it has read it.
    """
    scope = request.scope
    if isinstance(scope.get("user"), TokenIdentity) or scope.get("oauth") is not None:
        return True
    for name, value in scope.get("headers", ()):
        if name.lower() == b"authorization" and _BEARER.match(value):
            return True
    return has_access_token(scope.get("query_string", b""))
