"""The declared ``Content-Length`` of a request, read strictly (RFC 9110 §8.6).

The token family, the consent POST and the admin's forms refuse an oversized
body before reading it. ``str.isdigit`` is not the test for this header: it
accepts "²" and other Unicode digits that ``int()`` then refuses, and a digit
string past Python's integer-string limit makes ``int()`` raise too; either way a
malformed header became a 500. An ASGI server usually rejects such a request
first, but not every server does, and the rule is no 500 for any bad input.
"""

from __future__ import annotations

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
