"""Strict form-urlencoded parsing for the token family (RFC 6749 §3.1, §3.2, Appendix B).

Starlette's ``request.form()`` is lenient where OAuth must be strict: it keeps
the last of repeated parameters, passes malformed percent-escapes through and
returns an empty form for any other content type. This parser refuses all of
that with :class:`InvalidRequest`: a repeated parameter (RFC 6749 §3.1), a bad
escape, a NUL or other control character, non-UTF-8 text, too many fields or an
over-long value. Empty values count as omitted (RFC 6749 §3.1).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from oauth_middleware.errors import InvalidRequest

#: Most fields one request may carry; a token request needs at most eight.
MAX_FIELDS = 32
#: Longest parameter value accepted (tokens are 66 characters, verifiers at most 128).
MAX_VALUE_LENGTH = 4096

#: Printable ASCII only in the raw body: everything else must be percent-encoded.
_RAW = re.compile(rb"[\x21-\x7e]*")
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

Params = Mapping[str, str]


def unquote(raw: bytes) -> str:
    """Percent-decode one name or value strictly; ``+`` is a space (HTML form encoding)."""
    if _BAD_ESCAPE.search(raw):
        raise InvalidRequest("The request contains a malformed percent-escape.")
    out = bytearray()
    parts = raw.replace(b"+", b" ").split(b"%")
    out += parts[0]
    for part in parts[1:]:
        out.append(int(part[:2], 16))
        out += part[2:]
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The request is not valid UTF-8.") from None
    if _CONTROL.search(text):
        raise InvalidRequest("The request contains a control character.")
    return text


def parse(data: bytes) -> dict[str, str]:
    """The parameters of a form body or query string; empty values are dropped."""
    if not _RAW.fullmatch(data):
        raise InvalidRequest("The request contains characters that must be percent-encoded.")
    pairs = [p for p in data.split(b"&") if p]
    if len(pairs) > MAX_FIELDS:
        raise InvalidRequest("The request has too many parameters.")
    seen: set[str] = set()
    params: dict[str, str] = {}
    for pair in pairs:
        raw_name, _, raw_value = pair.partition(b"=")
        name, value = unquote(raw_name), unquote(raw_value)
        if name in seen:
            raise InvalidRequest("A parameter is repeated.")
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidRequest("A parameter value is too long.")
        seen.add(name)
        if value:
            params[name] = value
    return params
