"""Web helpers shared by the authorization server and the admin (SECURITY.md "Responses
everywhere"): page and redirect responses, safe links, the signing key, the default login.

Both apps import this module; neither borrows the other's internals.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from oauth_middleware.identity import logged_in_user

#: ``authenticate(request) -> user id | None``, sync or async.
Authenticate = Callable[[Request], "Awaitable[str | None] | str | None"]
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
