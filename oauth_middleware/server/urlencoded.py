"""Strict ``application/x-www-form-urlencoded`` parsing (RFC 6749 Appendix B, RFC 3986 §2.1).

Starlette's query and form parsers are lenient on purpose: a malformed
``%zz`` escape is kept as text, invalid UTF-8 becomes U+FFFD and a repeated
name silently keeps its last value. An authorization request must not be
guessed at, so this parser refuses instead: raw bytes outside printable ASCII,
malformed percent-escapes, percent-encoded bytes that are not UTF-8, and
control characters (NUL included) in a name or value all raise
:class:`~oauth_middleware.errors.InvalidRequest`. Repeats are kept, so callers
can tell ``a=1&a=2`` from ``a=2``. Empty values count as omitted (RFC 6749 §3.1).

Both halves of the server parse with it: ``auth/`` reads repeats itself
(:class:`Params`), the token family wants each parameter at most once and reads
the pieces of :func:`split` in one pass (``form.parse``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from oauth_middleware.errors import InvalidRequest, RequestTooLarge

#: Raw bytes allowed in an encoded query or body: printable ASCII. A raw space is
#: accepted as a space (``curl -d "scope=a b"`` sends one); it is never ambiguous.
_RAW = re.compile(rb"[\x20-\x7e]*")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
#: Joins the values of a repeatable parameter: a control character, refused in any value.
REPEAT_SEPARATOR = "\n"


def decode(text: str) -> str:
    """Percent-decode one name or value strictly; ``+`` is a space (HTML form encoding)."""
    if not _PRINTABLE.fullmatch(text):
        return _unescape(text)
    return decode_printable(text)


def decode_printable(text: str) -> str:
    """:func:`decode` for text already known to be printable ASCII (a piece of
    :func:`split`): without a ``%`` it decodes to itself with ``+`` as a space, since
    only an escape could smuggle in a control character or invalid UTF-8."""
    if "%" not in text:
        return text.replace("+", " ")
    return _unescape(text)


def _unescape(text: str) -> str:
    if _BAD_ESCAPE.search(text):
        raise InvalidRequest("The request contains a malformed percent-escape.")
    try:
        value = unquote_to_bytes(text.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The request is not valid UTF-8.") from None
    if _CONTROL.search(value):
        raise InvalidRequest("The request contains a control character.")
    return value


def split(raw: bytes, *, max_bytes: int, max_fields: int) -> list[tuple[str, str]]:
    """The encoded ``(name, value)`` pairs of ``raw``, not yet decoded (each is printable
    ASCII: decode with :func:`decode_printable`); over ``max_bytes`` bytes or
    ``max_fields`` fields is refused, as are raw bytes outside printable ASCII."""
    if len(raw) > max_bytes:
        raise RequestTooLarge("The request parameters are too long.")
    if not _RAW.fullmatch(raw):
        raise InvalidRequest("The request contains characters that must be percent-encoded.")
    pieces = [p for p in raw.decode("ascii").split("&") if p]
    if len(pieces) > max_fields:
        raise InvalidRequest("The request has too many parameters.")
    return [(name, value) for name, _, value in (p.partition("=") for p in pieces)]


def parse(raw: bytes, *, max_bytes: int, max_fields: int) -> Params:
    """Decode ``raw`` strictly; over ``max_bytes`` bytes or ``max_fields`` fields is refused."""
    return Params(tuple((decode_printable(name), decode_printable(value)) for name, value
                        in split(raw, max_bytes=max_bytes, max_fields=max_fields)))


@dataclass(frozen=True, slots=True)
class Params:
    """Decoded parameters in order, repeats kept, empty values dropped on reading."""

    items: tuple[tuple[str, str], ...]

    def values(self, name: str) -> list[str]:
        """Every non-empty value of ``name``, in order."""
        return [v for k, v in self.items if k == name and v]

    def repeated(self, names: Iterable[str]) -> list[str]:
        """The names among ``names`` that carry more than one non-empty value."""
        return [n for n in names if len(self.values(n)) > 1]

    def refuse_malformed(self, names: Iterable[str], max_lengths: Mapping[str, int]) -> None:
        """``invalid_request`` for the first of ``names`` sent twice (RFC 6749 §3.1), or the
        first value longer than ``max_lengths`` allows its parameter."""
        repeated = self.repeated(names)
        if repeated:
            raise InvalidRequest(f"The {repeated[0]} parameter is repeated.")
        for name, limit in max_lengths.items():
            value = self.get(name)
            if value is not None and len(value) > limit:
                raise InvalidRequest(f"The {name} parameter is too long.")

    def get(self, name: str) -> str | None:
        """The single value of ``name``; None when absent, empty or repeated."""
        found = self.values(name)
        return found[0] if len(found) == 1 else None
