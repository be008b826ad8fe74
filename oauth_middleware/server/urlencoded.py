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
(:class:`Params`), the token family wants each parameter at most once
(:meth:`Params.unique`).
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
    """Percent-decode one name or value strictly; ``+`` is a space (HTML form encoding).

    Text without a ``%`` decodes to itself with ``+`` as a space: :func:`parse` has
    already refused raw bytes outside printable ASCII, so only an escape could
    smuggle in a control character or invalid UTF-8.
    """
    if "%" not in text and _PRINTABLE.fullmatch(text):
        return text.replace("+", " ")
    if _BAD_ESCAPE.search(text):
        raise InvalidRequest("The request contains a malformed percent-escape.")
    try:
        value = unquote_to_bytes(text.replace("+", " ")).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("The request is not valid UTF-8.") from None
    if _CONTROL.search(value):
        raise InvalidRequest("The request contains a control character.")
    return value


def parse(raw: bytes, *, max_bytes: int, max_fields: int) -> Params:
    """Decode ``raw`` strictly; over ``max_bytes`` bytes or ``max_fields`` fields is refused."""
    if len(raw) > max_bytes:
        raise RequestTooLarge("The request parameters are too long.")
    if not _RAW.fullmatch(raw):
        raise InvalidRequest("The request contains characters that must be percent-encoded.")
    pieces = [p for p in raw.decode("ascii").split("&") if p]
    if len(pieces) > max_fields:
        raise InvalidRequest("The request has too many parameters.")
    items: list[tuple[str, str]] = []
    for piece in pieces:
        name, _, value = piece.partition("=")
        items.append((decode(name), decode(value)))
    return Params(tuple(items))


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

    def unique(self, *, max_value: int, repeatable: frozenset[str] = frozenset()
               ) -> dict[str, str]:
        """Each parameter at most once (RFC 6749 §3.1), empty ones dropped, values capped.

        A ``repeatable`` parameter (RFC 8707 §2 ``resource``) keeps every value, joined by
        :data:`REPEAT_SEPARATOR`, which no decoded value can contain (see :func:`decode`).
        """
        params: dict[str, str] = {}
        names = [name for name, _ in self.items if name not in repeatable]
        if len(set(names)) != len(names):
            raise InvalidRequest("A parameter is repeated.")
        for name, value in self.items:
            if len(value) > max_value:
                raise InvalidRequest("A parameter value is too long.")
            if value and name in params:
                params[name] += REPEAT_SEPARATOR + value
            elif value:
                params[name] = value
        return params

    def get(self, name: str) -> str | None:
        """The single value of ``name``; None when absent, empty or repeated."""
        found = self.values(name)
        return found[0] if len(found) == 1 else None
