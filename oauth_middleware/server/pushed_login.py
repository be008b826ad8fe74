"""``prompt=login`` in a pushed request (RFC 9126 §4; OpenID Connect Core 1.0 §3.1.2.1).

A plain request with ``prompt=login`` is sent to the login page with ``prompt`` taken out
of ``next``: coming back, it no longer asks for a login. A pushed request cannot do that:
its parameters are the stored ones, and writing them into ``next`` would both put them
in the address the pushed request keeps out of it and turn the request into one that was
never pushed (refused for a client that requires PAR). So ``next`` keeps only
``client_id`` and ``request_uri``, plus a mark: when the server asked for the login,
signed with the server's key and bound to this ``request_uri`` (its digest), valid for
the consent lifetime. Back at ``auth/``, the request counts as freshly logged in when the
mark verifies and the host says the person authenticated at or after that time
(``auth_time``); a host that does not say when only gets the round trip, as a plain
request does. A mark copied to another request, forged, altered or expired counts for
nothing: the person is sent to log in again. The ``request_uri`` stays one-time: it is
taken when the person decides, as always.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from oauth_middleware.csrf import CsrfTokens
from oauth_middleware.server.oidc.request import OpenIDRequest
from oauth_middleware.server.urlencoded import Params
from oauth_middleware.web import Authentication

#: The query parameter that carries the mark back from the login page.
MARK = "login_asked"
_FORCING = frozenset({"login", "select_account"})


class LoginMarks:
    """Signs and checks the marks of one server, valid ``max_age`` seconds (the consent
    lifetime) by ``clock`` (the store's)."""

    #: Separates these signatures from any other use of the same secret key.
    SALT = "oauth_middleware.pushed-login"

    def __init__(self, secret_key: bytes, *, max_age: int, clock: Callable[[], float]) -> None:
        self.tokens = CsrfTokens(secret_key, salt=self.SALT, max_age=max_age, clock=clock)

    def mark(self, sha: str, now: float) -> str:
        """The mark saying the login for pushed request ``sha`` was asked at ``now``."""
        asked = str(int(now))
        return f"{asked}.{self.tokens.issue(sha, asked)}"

    def asked_at(self, query: Params, sha: str) -> float | None:
        """When the login was asked, if ``query`` carries one valid mark for ``sha``."""
        found = query.values(MARK)
        if len(found) != 1:
            return None
        asked, _, token = found[0].partition(".")
        if not asked.isdigit() or len(asked) > 12 or not self.tokens.verify(token, sha, asked):
            return None
        return float(asked)


def satisfied(openid: OpenIDRequest, user: Authentication | None,
              asked: float | None) -> OpenIDRequest:
    """``openid`` without its forced login when the person logged in since it was asked."""
    if asked is None or user is None or not openid.forces_login:
        return openid
    if user.auth_time is not None and user.auth_time < asked:
        return openid
    return replace(openid, prompt=openid.prompt - _FORCING)


def next_query(query: Params, mark: str) -> list[tuple[str, str]]:
    """The query ``next`` comes back with: the request as sent (``client_id`` and
    ``request_uri``) with a fresh mark instead of any old one."""
    return [(k, v) for k, v in query.items if k != MARK] + [(MARK, mark)]
