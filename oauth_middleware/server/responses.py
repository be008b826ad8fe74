"""How the authorization server answers (SECURITY.md "Responses everywhere").

Token-family endpoints answer JSON with ``Cache-Control: no-store``; HTML pages
carry anti-framing and no-sniff headers; redirects carrying a code or token are
303 (never 307: a 307 would re-post the consent form to the client).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.responses import Response

from oauth_middleware.errors import NO_STORE_HEADERS, OAuthError

HTML_HEADERS: dict[str, str] = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


_encode = json.JSONEncoder(separators=(",", ":")).encode


def json_response(
    body: Mapping[str, object], status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """JSON that no cache keeps (RFC 6749 §5.1)."""
    return Response(
        _encode(body),
        status_code=status_code,
        media_type="application/json",
        headers={**NO_STORE_HEADERS, **(headers or {})},
    )


def error_json(exc: OAuthError) -> Response:
    """An OAuth error as the token-family endpoints send it (RFC 6749 §5.2)."""
    return json_response(exc.to_dict(), exc.status_code, exc.headers)


def html_response(html: str, status_code: int) -> Response:
    """A page with the anti-framing, no-cache and no-sniff headers."""
    return Response(html, status_code=status_code, media_type="text/html; charset=utf-8",
                    headers=HTML_HEADERS)


def redirect(url: str) -> Response:
    """303 See Other, uncacheable, no referrer: the only way we redirect with a code or token."""
    return Response(status_code=303, headers={
        "Location": url, "Cache-Control": "no-store", "Pragma": "no-cache",
        "Referrer-Policy": "no-referrer",
    })
