"""The admin's HTML: Jinja2 templates with autoescaping forced on, and the page headers.

Every page carries the consent page's headers
(:data:`~oauth_middleware.server.responses.HTML_HEADERS`) with a stricter
``Content-Security-Policy``: the admin runs no script at all, so none may run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import Response

from oauth_middleware.web import html_response

TEMPLATES = Path(__file__).resolve().parent / "templates"
#: No script, no plugin, no framing, no foreign styles: the pages need only inline CSS.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "base-uri 'none'; frame-ancestors 'none'"
)

#: Fixed messages a redirect may ask for with ``?done=<key>``: request data is never echoed.
NOTICES: dict[str, str] = {
    "created": "Client registered.",
    "saved": "Changes saved.",
    "deleted": "Client deleted and its tokens revoked.",
    "redirect-added": "Redirect URI added.",
    "redirect-removed": "Redirect URI removed.",
    "token-revoked": "Token revoked.",
    "token-gone": "That token had already expired or been revoked.",
    "tokens-revoked": "Every token and code of this client was revoked.",
    "user-revoked": "Every token and code of that user was revoked.",
    "scope-added": "Scope added.",
    "scope-enabled": "Scope enabled.",
    "scope-disabled": "Scope disabled: it is granted to nobody from now on.",
    "scope-deleted": "Scope deleted.",
    "consent-forgotten": "Forgotten: the consent page is shown again next time.",
}


def when(timestamp: float | None) -> str:
    """A stored time for people, in UTC; ``never`` for a token that does not expire."""
    if timestamp is None:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def lifetime(seconds: int | None) -> str:
    """``3600`` -> ``1 h``; None -> ``never expires``."""
    if seconds is None:
        return "never expires"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


_ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["when"] = when
_ENV.filters["lifetime"] = lifetime


def render(template: str, status_code: int = 200, **context: object) -> Response:
    response = html_response(_ENV.get_template(template).render(**context), status_code)
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
