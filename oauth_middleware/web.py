"""Web helpers shared by the authorization server and the admin (SECURITY.md "Responses
everywhere"): page and redirect responses, safe links, the signing key, the default login.

Both apps import this module; neither borrows the other's internals.
"""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.identity import logged_in_user
from oauth_middleware.typed_text import check_typed_text


@dataclass(frozen=True, slots=True)
class Authentication:
    """Who signed in, and how (OpenID Connect Core 1.0 §2): what ``authenticate`` may return
    instead of a bare user id, so ID tokens can carry ``auth_time``, ``acr`` and ``amr``.

    ``auth_time`` is the Unix time the person last actually authenticated (typed a password,
    touched a key), not the time of this request: ``max_age`` and ``prompt=login`` are judged
    by it. A host that returns a bare user id gives none, and requests with ``max_age`` are
    then refused (``login_required``) rather than answered with a guess.
    """

    user_id: str
    auth_time: float | None = None
    #: Authentication Context Class Reference, e.g. ``"urn:mace:incommon:iap:silver"``.
    acr: str | None = None
    #: Authentication Methods References (RFC 8176), e.g. ``("pwd", "otp")``.
    amr: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.user_id, str) or not self.user_id:
            raise ValueError("Authentication.user_id must be a non-empty string")
        at = self.auth_time
        if at is not None and (isinstance(at, bool) or not isinstance(at, int | float)
                               or not math.isfinite(at) or at < 0):
            raise ValueError("Authentication.auth_time must be a Unix time in seconds, or None")
        if self.acr is not None and not isinstance(self.acr, str):
            raise ValueError("Authentication.acr must be a string, or None")
        if not isinstance(self.amr, tuple) or not all(isinstance(m, str) for m in self.amr):
            raise ValueError("Authentication.amr must be a tuple of strings")


#: ``authenticate(request) -> user id | Authentication | None``, sync or async.
Authenticate = Callable[
    [Request], "Awaitable[str | Authentication | None] | str | Authentication | None"]


def authentication(result: object) -> Authentication | None:
    """What an ``authenticate`` hook answered, as an :class:`Authentication` or nobody.

    Fails closed like ``hooks.call_hook``: None, a bool or an empty string is nobody (a hook
    written as a check answers False for a stranger)."""
    if isinstance(result, Authentication):
        return result
    if result is None or isinstance(result, bool) or result == "":
        return None
    return Authentication(str(result))
logger = logging.getLogger("oauth_middleware.web")

def usable_id(user_id: str, hook: str) -> bool:
    """May anybody be signed in as ``user_id``, as the host's ``hook`` (``authenticate``,
    ``verify_password``) answered it? Not with a control character: the id reaches grants,
    the audit trail, the admin, the connected-apps page and terminals (the toolbox and
    the CLI refuse it). That is the host's bug: the operator is warned, with the hook and
    the character's position, never the id, which could carry a terminal escape or a
    forged log line; each caller refuses the person in its own way, with
    :class:`~oauth_middleware.errors.UnusableUserId`'s words."""
    try:
        check_typed_text(user_id, "user id")
    except ValueError as exc:
        logger.warning("the %s hook answered a user id this server refuses, so nobody was "
                       "signed in with it: %s", hook, exc)
        return False
    return True


#: ``logout(request) -> None``, sync or async: ends the host's login session of ``request``.
Logout = Callable[[Request], "Awaitable[None] | None"]

HTML_HEADERS: dict[str, str] = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def html_response(html: str, status_code: int = 200) -> Response:
    """A page with the anti-framing, no-cache and no-sniff headers."""
    return Response(html, status_code=status_code, media_type="text/html; charset=utf-8",
                    headers=HTML_HEADERS)


def redirect(url: str) -> Response:
    """303 See Other, uncacheable, no referrer: the only way we redirect with a code or token
    (a 307 would re-post a form to where it points)."""
    return Response(status_code=303, headers={
        "Location": url, "Cache-Control": "no-store", "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
    })


def safe_link(link: str) -> str | None:
    """A client's web page if it is an absolute http(s) URL (never ``javascript:``)."""
    try:
        parts = urlsplit(link)
    except ValueError:
        return None
    return link if parts.scheme in ("http", "https") and parts.netloc else None


def signing_key(secret_key: str | bytes | None, *, debug: bool) -> bytes:
    """The key CSRF tokens are signed with: required (the same on every worker) outside
    debug mode; in debug a random per-process key keeps a single-process demo working."""
    if secret_key is None:
        if not debug:
            raise ValueError("secret_key is required (the same value on every worker), "
                             "e.g. secret_key=os.environ['OAUTH_SECRET_KEY']")
        return secrets.token_bytes(32)
    return secret_key.encode() if isinstance(secret_key, str) else secret_key


async def user_from_scope(request: Request) -> str | None:
    """The default ``authenticate``: ``request.user`` from Starlette's AuthenticationMiddleware,
    refused when it came from a bearer token (RFC 9700 §4.14): see :func:`logged_in_user`.

    Async so that it runs on the loop: it only reads the scope, and a sync hook would
    take a worker-thread hop (see ``hooks``) shared with the host's sync hooks."""
    return logged_in_user(request)
