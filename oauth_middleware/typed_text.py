"""Text a person typed, as stored and shown: no control characters.

Stored text (a client's name, a user id) reaches consent pages, the admin and terminals,
where an escape sequence such as ``\\x1b]0;...\\x07`` would act instead of being shown.
A leaf: the server's rules (:mod:`.policy`), the toolbox and the pages that sign people
in (:mod:`.web`) all check with this one definition.
"""

from __future__ import annotations

import unicodedata

#: Format characters that reorder displayed text (bidi overrides, "Trojan Source").
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Controls, lone surrogates, line and paragraph separators.
_CONTROL_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})


def check_typed_text(value: str, what: str, *, multiline: bool = False) -> str:
    """``value``, unless it holds a control character (``\\n`` and ``\\t`` allowed when
    ``multiline``): ``ValueError`` naming ``what`` and the character's position, never the
    text itself."""
    for position, ch in enumerate(value, 1):
        if multiline and ch in "\n\t":
            continue
        if ch in _BIDI or unicodedata.category(ch) in _CONTROL_CATEGORIES:
            raise ValueError(f"the {what} must not contain control characters (U+{ord(ch):04X} "
                             f"at character {position}): remove it")
    return value
