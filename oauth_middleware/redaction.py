"""What a log may see of a request's query string (RFC 6750 §5.3; RFC 6819 §5.1.4.1).

Servers log the URL they read from the ASGI scope: uvicorn's access log prints
``scope["query_string"]`` as the app leaves it, when the answer starts. So a
credential sent in a URL is blanked in the scope before the first check that
could refuse the request — a wrong method, plain HTTP, an oversized body, an
unreachable Redis — and not only once the request looks well-formed.

The authorization server and the admin blank the values of
:data:`SECRET_PARAMS`, which none of their pages reads from a URL; the token
family, which reads nothing from its URL, blanks every value. The parameter
names stay, so a log still shows what was sent. Redaction is lenient (it runs
before any strict parser, which may refuse the query): a name is decoded as
well as it can be and compared case-insensitively, so ``Client_Secret`` or
``client%5Fsecret`` are blanked too.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any
from urllib.parse import unquote_to_bytes

#: Query parameters that carry a secret anywhere in OAuth (RFC 6749, 7009, 7636, 7662, 7523)
#: or in our own forms (the consent's CSRF token and transaction id).
SECRET_PARAMS = frozenset({
    "access_token", "assertion", "client_assertion", "client_secret", "code",
    "code_verifier", "csrf_token", "id_token", "password", "refresh_token", "token",
    "transaction",
})
REDACTED = b"redacted"


def _name(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", "replace").strip().lower()


def redact(query: bytes, names: frozenset[str] | None = SECRET_PARAMS) -> bytes:
    """``query`` with the value of each parameter in ``names`` replaced by ``redacted``;
    with ``names=None`` every value is, and so is a bare part without ``=`` (a pasted token)."""
    if not query:
        return query
    parts = []
    for part in query.split(b"&"):
        name, sep, _ = part.partition(b"=")
        if names is None:
            part = name + b"=" + REDACTED if sep else (REDACTED if part else part)
        elif sep and _name(name) in names:
            part = name + b"=" + REDACTED
        parts.append(part)
    return b"&".join(parts)


def redact_scope(scope: MutableMapping[str, Any],
                 names: frozenset[str] | None = SECRET_PARAMS) -> bytes:
    """Blank the query string in ``scope`` (see :func:`redact`); return it as it was sent."""
    raw: bytes = scope.get("query_string", b"")
    if raw:
        scope["query_string"] = redact(raw, names)
    return raw
