"""How the authorization server answers (SECURITY.md "Responses everywhere").

Token-family endpoints answer JSON with ``Cache-Control: no-store``; HTML pages
carry anti-framing and no-sniff headers; redirects carrying a code or token are
303 (never 307: a 307 would re-post the consent form to the client).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.responses import Response

from oauth_middleware.errors import NO_STORE_HEADERS
from oauth_middleware.web import HTML_HEADERS, html_response, redirect

__all__ = ["HTML_HEADERS", "html_response", "json_response", "redirect"]

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
