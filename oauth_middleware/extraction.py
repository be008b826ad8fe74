"""Bearer token extraction (RFC 6750 §2): header, form body and query string.

Each function looks at one source and raises :class:`InvalidRequest` for input
RFC 6750 calls malformed: a repeated ``access_token``, two ``Authorization``
headers, a value outside the ``b64token`` syntax, or more than one method at
once (§3.1). Nothing here decodes more of the request than it needs: a token
over :data:`MAX_TOKEN_LENGTH` is malformed before any regex or lookup, and an
``Authorization`` header of another scheme is not bearer credentials, whatever
its length. The total size of the request head is not ours to cap: the ASGI
server (or a proxy in front of it) bounds it — loosely, for uvicorn; see the
README's security notes.
"""

from __future__ import annotations

from typing import Literal, NamedTuple
from urllib.parse import unquote_to_bytes

from starlette.types import Message, Scope, Send

from oauth_middleware.errors import InvalidRequest

Source = Literal["header", "body", "query"]

#: RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
#: Longest token we look at; ours are 66 characters.
MAX_TOKEN_LENGTH = 4096
_PARAM = b"access_token"
_FORM_TYPE = b"application/x-www-form-urlencoded"


class Credential(NamedTuple):
    """The one token a request sent, and where. Immutable like a frozen dataclass, but
    built on every request: a frozen dataclass sets each field through
    ``object.__setattr__``, several times the cost of a tuple."""

    token: str
    source: Source
    #: Sent as ``Authorization: DPoP`` (RFC 9449 §7.1): valid only with a proof of its key.
    dpop: bool = False


def _checked(raw: bytes) -> str:
    """``raw`` as text when it is a b64token: its characters before the trailing ``=`` are
    all of the alphabet: deleting them leaves nothing (one pass in C, where a regular
    expression steps through a JWT-sized token character by character)."""
    value = raw.rstrip(b"=") if len(raw) <= MAX_TOKEN_LENGTH else b""
    if not value or value.translate(None, _B64TOKEN_CHARS):
        raise InvalidRequest("The access token is malformed.")
    return raw.decode("ascii")


def from_header(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of an ``Authorization: Bearer`` header; the scheme is case-insensitive."""
    found = header_token(headers)
    return None if found is None or found[1] else found[0]


def header_token(headers: list[tuple[bytes, bytes]]) -> tuple[str, bool] | None:
    """The token of an ``Authorization: Bearer`` or ``Authorization: DPoP`` header (RFC 9449
    §7.1, the same token syntax), and whether the scheme was DPoP."""
    found = None
    for name, value in headers:
        if name == b"authorization":
            if found is not None:
                raise InvalidRequest("More than one Authorization header.")
            found = value
    if found is None:
        return None
    scheme, _, rest = found.strip().partition(b" ")
    scheme = scheme.lower()
    if scheme == b"bearer":
        return _checked(rest.strip(b" ")), False
    if scheme == b"dpop":
        return _checked(rest.strip(b" ")), True
    return None


def from_urlencoded(data: bytes) -> str | None:
    """The single non-empty ``access_token`` of a query string or form body."""
    if _PARAM not in data and b"%" not in data:
        return None
    found: bytes | None = None
    for part in data.split(b"&"):
        name, _, value = part.partition(b"=")
        if not _names_token(name):
            continue
        if found is not None:
            raise InvalidRequest("The access_token parameter is repeated.")
        found = unquote_to_bytes(value.replace(b"+", b" "))
    return _checked(found) if found else None


def is_form(headers: list[tuple[bytes, bytes]]) -> bool:
    """True when the body is ``application/x-www-form-urlencoded`` (parameters allowed)."""
    for name, value in headers:
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == _FORM_TYPE
    return False


def single(header: str | None, body: str | None, query: str | None, *,
           dpop: bool = False) -> Credential | None:
    """At most one method per request (RFC 6750 §3.1); ``dpop``: the header's scheme."""
    if body is None and query is None:
        return None if header is None else Credential(header, "header", dpop)
    sources: tuple[tuple[str | None, Source], ...] = (
        (header, "header"), (body, "body"), (query, "query")
    )
    found = [Credential(token, source, dpop and source == "header")
             for token, source in sources if token is not None]
    if len(found) > 1:
        raise InvalidRequest("More than one method of sending the access token was used.")
    return found[0]  # a body or query token is there: both None returned above


def _may_name_token(data: bytes) -> bool:
    """False only when no part of urlencoded ``data`` can be named ``access_token``."""
    return _PARAM in data or b"%" in data


def _names_token(name: bytes) -> bool:
    """A parameter name that decodes to ``access_token`` (a "+" is a space: never part of it)."""
    return unquote_to_bytes(name) == _PARAM


def redact(data: bytes) -> bytes:
    """``data`` with every ``access_token`` value replaced, for whatever logs the URL."""
    if not _may_name_token(data):
        return data
    parts = []
    for part in data.split(b"&"):
        name, sep, _ = part.partition(b"=")
        if sep and _names_token(name):
            part = name + b"=redacted"
        parts.append(part)
    return b"&".join(parts)


def has_access_token(data: bytes) -> bool:
    """True when urlencoded ``data`` names an ``access_token`` parameter, even empty or without
    ``=`` (RFC 6750 §2.2, §2.3)."""
    return _may_name_token(data) and any(
        _names_token(part.partition(b"=")[0]) for part in data.split(b"&"))


def redact_query(scope: Scope) -> bytes:
    """Blank every ``access_token`` of the query string in ``scope``; the string as sent.

    Done first and whatever the token sources: servers (uvicorn's access log) and
    apps log the URL from the scope, and a token in a URL must never reach a log.
    """
    raw: bytes = scope.get("query_string", b"")
    if raw:
        scope["query_string"] = redact(raw)
    return raw


def private_answers(send: Send) -> Send:
    """Query-string tokens end up in caches and histories: answers are private (RFC 6750 §5.3)."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (k, v) for k, v in message.get("headers", [])
                if k.lower() != b"cache-control" or b"no-store" in v.lower()
            ]
            if not any(k.lower() == b"cache-control" for k, _ in headers):
                headers.append((b"cache-control", b"private"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped
