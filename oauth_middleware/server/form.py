"""Strict form parameters for the token family (RFC 6749 §3.1, §3.2, Appendix B).

Starlette's ``request.form()`` is lenient where OAuth must be strict: it keeps
the last of repeated parameters, passes malformed percent-escapes through and
returns an empty form for any other content type. The token family reads its
body and query through the shared strict decoder in :mod:`.urlencoded` and
additionally refuses a repeated parameter (RFC 6749 §3.1) — but RFC 8707 §2's
``resource``, which may repeat — or an over-long value.
"""

from __future__ import annotations

from collections.abc import Mapping

from oauth_middleware.errors import InvalidRequest
from oauth_middleware.server import urlencoded

#: Most fields one request may carry; a token request needs at most eight.
MAX_FIELDS = 32
#: Longest parameter value accepted (tokens are 66 characters, verifiers at most 128).
MAX_VALUE_LENGTH = 4096
#: Longest encoded body or query the token family reads.
MAX_BYTES = 16 * 1024

Params = Mapping[str, str]
#: Parameters that may be sent more than once: RFC 8707 §2 ``resource``, RFC 8693 §2.1
#: ``audience``.
REPEATABLE = frozenset({"resource", "audience"})


def unquote(raw: bytes) -> str:
    """Percent-decode one name or value strictly; ``+`` is a space (HTML form encoding)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The request is not valid UTF-8.") from None
    return urlencoded.decode(text)


def parse(data: bytes) -> dict[str, str]:
    """The parameters of a form body or query string; empty values are dropped.

    One pass over the pieces (a token request is parsed twice per request: its query,
    usually empty, and its body): each is decoded, checked for repetition and length,
    and kept.
    """
    if not data:
        return {}
    params: dict[str, str] = {}
    seen: set[str] = set()
    for raw_name, raw_value in urlencoded.split(data, max_bytes=MAX_BYTES,
                                                max_fields=MAX_FIELDS):
        name, value = urlencoded.decode_printable(raw_name), urlencoded.decode_printable(raw_value)
        if name in seen and name not in REPEATABLE:
            raise InvalidRequest("A parameter is repeated.")
        seen.add(name)
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidRequest("A parameter value is too long.")
        if not value:
            continue
        kept = params.get(name)
        params[name] = value if kept is None else kept + urlencoded.REPEAT_SEPARATOR + value
    return params


def values(params: Params, name: str) -> list[str]:
    """Every value of a repeatable parameter, in order (none when absent)."""
    raw = params.get(name)
    return raw.split(urlencoded.REPEAT_SEPARATOR) if raw else []

