"""A request body read within a bound, its ``Content-Length`` read strictly (RFC 9110 §8.6).

The token family, the consent POST and the admin's forms refuse an oversized
body before reading it, and stop reading one that grows past the bound.
``str.isdigit`` is not the test for this header: it accepts "²" and other
Unicode digits that ``int()`` then refuses, and a digit string past Python's
integer-string limit makes ``int()`` raise too; either way a malformed header
became a 500. An ASGI server usually rejects such a request
first, but not every server does, and the rule is no 500 for any bad input.
"""

from __future__ import annotations

from starlette.requests import ClientDisconnect, Request

#: Digits past this many name more bytes than any body we accept; not converted.
_MAX_DIGITS = 18
#: What an absurdly long (but well-formed) Content-Length counts as.
_HUGE = 10**_MAX_DIGITS


def declared_length(value: str | None) -> int | None:
    """The length a request declares; None when it declares none.

    Raises :class:`ValueError` unless the value is one or more ASCII digits.
    """
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ValueError("malformed Content-Length")
    return int(value) if len(value) <= _MAX_DIGITS else _HUGE


class BodyTooLarge(Exception):
    """The body declares or grows past the bound."""


class BodyGone(Exception):
    """The client went away before the body was read."""


async def read_bounded(request: Request, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes.

    Raises :class:`ValueError` for a malformed ``Content-Length``,
    :class:`BodyTooLarge` and :class:`BodyGone`; each boundary words its own refusal.
    """
    declared = declared_length(request.headers.get("content-length"))
    if declared is not None and declared > limit:
        raise BodyTooLarge()
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise BodyTooLarge()
    except ClientDisconnect:
        raise BodyGone() from None
    return bytes(body)
