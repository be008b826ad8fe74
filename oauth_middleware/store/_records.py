"""The export file: JSON lines, one header then one record per Redis key.

The header names the format and its version, the prefix the keys were under,
when the export began (Redis's clock, ms since the epoch), how many records of
each kind follow and how many keys were left out as unknown, so that an import
can refuse a file it does not understand and notice one cut short. Each record
is one key, named after the prefix, with its kind (:data:`.keys.KINDS`), its
Redis type, its value and ``expires_at``: the absolute time (Redis's clock, ms)
it expires, so a file imported later gives nothing a longer life than it had
left.

Values are text as Redis stores them: JSON records, digests, ids. The store
holds no raw token, code or client secret, so neither does the file. Bytes
that are not UTF-8 travel as lone surrogates (``surrogateescape``), which
``json`` writes as ``\\udcXX`` escapes; the file is ASCII, every control
character escaped.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, TypeGuard

from oauth_middleware.store.keys import KINDS, NEVER_MS, current_name, kind_of

#: The ``format`` of every header we write.
FORMAT = "oauth-middleware-store"
#: Bump when a record's meaning changes; an import refuses every other version.
VERSION = 1

#: Kinds of keys that belong to one Redis and are never moved (nor accepted by an import).
NOT_MOVED = frozenset({"cache_generation", "events", "grant_tombstone"})

#: A record's value: a string's text, a set's members, a hash's fields, a sorted set's
#: ``[member, score]`` pairs (the score as Redis prints it).
#: ``ZADD``'s number syntax, the subset that Redis itself prints.
_SCORE = re.compile(r"-?(?:[0-9]{1,20}(?:\.[0-9]{0,20})?(?:e[+-]?[0-9]{1,3})?|inf)")
#: Latest expiry a record may carry (ms): what the store itself uses for "never".
LATEST = NEVER_MS

Value = str | list[str] | dict[str, str] | list[list[str]]


class BadLine(ValueError):
    """A line of an export file that cannot be imported; says which line and why."""

    def __init__(self, number: int, reason: str) -> None:
        super().__init__(f"line {number}: {reason}")
        self.number = number
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Record:
    """One key: its name after the prefix, kind, Redis type, value and absolute expiry."""

    name: str
    kind: str
    type: str
    value: Value
    expires_at: int | None

    def line(self) -> str:
        return _dumps({"kind": self.kind, "key": self.name, "type": self.type,
                       "expires_at": self.expires_at, "value": self.value})


@dataclass(frozen=True, slots=True)
class Header:
    prefix: str
    exported_at: int
    counts: dict[str, int]
    #: Keys under the prefix the schema does not describe: left out, but counted here.
    unknown: int = 0

    @property
    def records(self) -> int:
        return sum(self.counts.values())

    def line(self) -> str:
        return _dumps({"format": FORMAT, "version": VERSION, "prefix": self.prefix,
                       "exported_at": self.exported_at, "records": self.records,
                       "counts": dict(sorted(self.counts.items())), "unknown": self.unknown})


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")) + "\n"


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def raw(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")


def _object(line: bytes, number: int) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, ValueError):
        raise BadLine(number, "not a JSON object") from None
    if not isinstance(data, dict):
        raise BadLine(number, "not a JSON object")
    return data


def _int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def parse_header(line: bytes) -> Header:
    """The first line; ``BadLine`` naming what is wrong (another format or version included)."""
    data = _object(line, 1)
    if data.get("format") != FORMAT:
        raise BadLine(1, f"not an oauth-middleware export (no \"format\": \"{FORMAT}\" header)")
    if data.get("version") != VERSION:
        raise BadLine(1, f"format version {data.get('version')!r}; this version reads "
                         f"version {VERSION} only")
    prefix, exported_at, counts = data.get("prefix"), data.get("exported_at"), data.get("counts")
    if not isinstance(prefix, str) or not prefix or not _int(exported_at):
        raise BadLine(1, "the header needs a \"prefix\" and an \"exported_at\"")
    if not isinstance(counts, dict) or not all(
            k in KINDS and k not in NOT_MOVED and _int(v) for k, v in counts.items()):
        raise BadLine(1, "the header's \"counts\" must map kinds to whole numbers")
    return Header(prefix, exported_at, dict(counts))


def parse_record(line: bytes, number: int) -> Record:
    """One record line, checked whole: a key of the schema, of its kind's type, a value of
    that type's shape, a whole-number expiry or null."""
    data = _object(line, number)
    if set(data) != {"kind", "key", "type", "expires_at", "value"}:
        raise BadLine(number, "a record has exactly kind, key, type, expires_at and value")
    kind, name, redis_type = data["kind"], data["key"], data["type"]
    if isinstance(name, str):
        name = current_name(name)  # an export of key schema 1 restores renamed
    if not isinstance(name, str) or kind_of(name) != kind or not isinstance(kind, str):
        raise BadLine(number, f"key {_shown(name)} is not a key of kind {_shown(kind)}")
    if kind in NOT_MOVED:
        raise BadLine(number, f"a {kind} belongs to one Redis and is never imported")
    if redis_type != KINDS[kind][0]:
        raise BadLine(number, f"a {kind} is a Redis {KINDS[kind][0]}, not {_shown(redis_type)}")
    expires_at = data["expires_at"]
    if expires_at is not None and not (_int(expires_at) and 0 < expires_at <= LATEST):
        raise BadLine(number, f"expires_at must be a whole number of ms from 1 to {LATEST}, "
                              "or null")
    if not _shaped(redis_type, data["value"]):
        raise BadLine(number, f"the value is not a non-empty Redis {redis_type}")
    return Record(name, kind, redis_type, data["value"], expires_at)


def _shown(value: object) -> str:
    """A value from the file in an error message: its repr, cut short (a line may be huge)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _shaped(redis_type: str, value: object) -> bool:
    if redis_type == "string":
        return isinstance(value, str)
    if redis_type == "hash":
        return isinstance(value, dict) and bool(value) and all(
            isinstance(v, str) for v in value.values())
    if not isinstance(value, list) or not value:
        return False
    if redis_type == "set":
        return all(isinstance(v, str) for v in value)
    return all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
               and _score(pair[1]) for pair in value)


def _score(value: object) -> bool:
    """A sorted-set score as Redis prints one (a decimal number, or ``inf``), nothing that
    ``ZADD`` would refuse halfway through writing a key: no NaN, no overflow to infinity,
    no underflow to zero (Redis refuses both)."""
    if not isinstance(value, str) or _SCORE.fullmatch(value) is None:
        return False
    if value.endswith("inf"):
        return True
    number = float(value)
    mantissa = value.partition("e")[0]
    return math.isfinite(number) and (number != 0 or not mantissa.strip("-0."))


def tally(records: Counter[str]) -> str:
    """``3 client, 1 scopes`` for a summary line."""
    return ", ".join(f"{n} {kind}" for kind, n in sorted(records.items())) or "nothing"
