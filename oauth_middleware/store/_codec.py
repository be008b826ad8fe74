"""JSON encoding of the stored records (the value column of the key schema in ``keys``).

One generic codec for every frozen record: tuples become lists, scope sets
become one sorted space-delimited string. Every record carries the schema
version ``"v"`` (:data:`SCHEMA_VERSION`; records without it are version 0), and
readers take the fields they know and ignore the rest, so a record written by a
newer version still loads. Nothing depends on a record's exact bytes: the
scripts that make redemption and rotation single-winner read one state field
inside Lua (``used``, ``rotated``, or the current refresh token's ``digest``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import fields
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

from oauth_middleware.models import AccessToken

if TYPE_CHECKING:
    from _typeshed import DataclassInstance as _Record

_dumps = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode
_decode = json.JSONDecoder().decode
#: The json module's own string escaper (ASCII only, as ``ensure_ascii=True``); it raises
#: TypeError for anything but a str.
_text = json.encoder.encode_basestring_ascii


R = TypeVar("R", bound="_Record")

#: Schema version written into every record as ``"v"``.
#: 0 (no ``"v"``): one ``rt:{g}:<sha>`` record per refresh token, kept ``rotated`` after use.
#: 1: one ``rt:{g}`` record per grant holding its current token's digest (see ``keys``).
SCHEMA_VERSION = 1


class RecordError(ValueError):
    """A stored value is no record of this type: not a JSON object, a required field missing,
    or a field of another JSON type (a corrupted key, or a newer version's changed field).
    Readers of grant records take such a record for unknown: never a 500, never a replay."""


def _scopes_in(value: Any) -> frozenset[str]:
    if value is not None and not isinstance(value, str):
        raise RecordError("a scope list is not a string")
    return frozenset(value.split()) if value else frozenset()


def _texts_in(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RecordError("a list field is not a list of strings")
    return tuple(value)


#: The JSON types a field of each annotation may hold (Python's bool is an int: refused apart).
#: Any number passes for a number: a lifetime may be given in fractional seconds.
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,), "SubjectType": (str,), "ResponseType": (str,), "bool": (bool,),
    "int": (int, float), "float": (int, float),
}


def _checked(kind: str) -> Callable[[Any], Any]:
    """The identity for values of ``kind`` (``X`` or ``X | None``); RecordError for others."""
    base, _, optional = kind.partition(" | ")
    allowed = _JSON_TYPES.get(base)

    def check(value: Any) -> Any:
        if value is None and optional == "None":
            return value
        if allowed is not None and (not isinstance(value, allowed)
                                    or (bool not in allowed and isinstance(value, bool))):
            raise RecordError(f"a field is not of type {kind}")
        return value

    return check


@cache
def _loaders(cls: type[_Record]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Per field: how a JSON value turns back into the dataclass field's type, checked."""
    plan: list[tuple[str, Callable[[Any], Any]]] = []
    for f in fields(cls):
        kind = str(f.type)
        if kind.startswith("frozenset"):
            plan.append((f.name, _scopes_in))
        elif kind.startswith("tuple"):
            plan.append((f.name, _texts_in))
        else:
            plan.append((f.name, _checked(kind)))
    return tuple(plan)


@cache
def _names(cls: type[_Record]) -> tuple[str, ...]:
    """The record's field names in the order the encoder sorts keys."""
    return tuple(sorted(f.name for f in fields(cls)))


#: Fields left out of a record while empty, so records that have nothing there keep the
#: bytes they had before the field existed (RFC 8707 audiences, a client's resources).
_OMITTED_EMPTY = frozenset({"audience", "resources", "post_logout_redirect_uris",
                            "access_token_alg", "nonce", "auth_time", "acr", "amr",
                            "claims", "id_token_signed_response_alg"})


def dump(record: _Record) -> str:
    out: dict[str, Any] = {}
    for name in _names(type(record)):
        value = getattr(record, name)
        if not value and name in _OMITTED_EMPTY:
            continue
        if isinstance(value, frozenset):
            value = " ".join(sorted(value))
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    out["v"] = SCHEMA_VERSION
    return _dumps(out)


def dump_access(record: AccessToken) -> str:
    """:func:`dump` spelled out for the access-token record, the one every issued token writes:
    the same bytes, a third of the cost (no per-call encoder set-up, no key sort)."""
    r = record
    if r.audience:
        return dump(record)
    try:
        return (f'{{"client_id":{_text(r.client_id)},"expires_at":{_number(r.expires_at)},'
                f'"fingerprint":{_text(r.fingerprint)},"grant_id":{_text(r.grant_id)},'
                f'"issued_at":{_number(r.issued_at)},'
                f'"scopes":{_text(" ".join(sorted(r.scopes)))},"subject":{_text(r.subject)},'
                f'"subject_type":{_text(r.subject_type)},"v":{SCHEMA_VERSION}}}')
    except TypeError:  # a value of an unexpected type: the generic encoder decides
        return dump(record)


def _number(value: object) -> str:
    """A JSON number (or null) exactly as the json module writes it; TypeError otherwise."""
    if value is None:
        return "null"
    if type(value) is float and math.isfinite(value):
        return float.__repr__(value)
    if type(value) is int:
        return int.__repr__(value)
    raise TypeError("not a plain finite number")


def load(cls: type[R], raw: bytes | str) -> R:
    """The record's known fields; ``"v"`` and fields of newer versions are ignored.

    :class:`RecordError` when ``raw`` is no such record (see there)."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise RecordError("not JSON") from None
    if not isinstance(data, dict):
        raise RecordError("not a JSON object")
    kwargs = {name: conv(data[name]) for name, conv in _loaders(cls) if name in data}
    try:
        return cls(**kwargs)
    except TypeError:
        raise RecordError("a required field is missing") from None


def load_memo(cls: type[R], raw: bytes) -> R:
    """:func:`load` remembered by the exact stored bytes, for records read on every request
    of the token family (clients, scopes): immutable, and a pure function of their bytes."""
    found = _MEMO.get((cls, raw))
    if found is None:
        found = load(cls, raw)
        if len(_MEMO) >= ACCESS_MEMO_SIZE:
            _MEMO.clear()
        _MEMO[(cls, raw)] = found
    return found


_MEMO: dict[tuple[type[Any], bytes], Any] = {}


def load_access(raw: bytes) -> AccessToken:
    """:func:`load` for the access-token record, the decode every protected request makes.

    Records are immutable and a pure function of their bytes, so the decoded
    record is remembered by the exact bytes Redis returned (a bounded memo,
    emptied when full). This is no token cache: the bytes are still read from
    Redis on every request, and a revoked token is simply not there to decode.
    """
    record = _ACCESS_MEMO.get(raw)
    if record is None:
        record = _decode_access(raw)
        if len(_ACCESS_MEMO) >= ACCESS_MEMO_SIZE:
            _ACCESS_MEMO.clear()
        _ACCESS_MEMO[raw] = record
    return record


#: Decoded access-token records remembered by their stored bytes (see :func:`load_access`).
ACCESS_MEMO_SIZE = 4096
_ACCESS_MEMO: dict[bytes, AccessToken] = {}


def _decode_access(raw: bytes) -> AccessToken:
    """Spelling the fields out skips the generic per-field plan; a record missing a field
    falls back to :func:`load`, which applies the dataclass defaults."""
    data = _decode(raw.decode())
    try:
        scopes = data["scopes"]
        return AccessToken(
            grant_id=data["grant_id"], client_id=data["client_id"], subject=data["subject"],
            subject_type=data["subject_type"],
            scopes=frozenset(scopes.split()) if scopes else frozenset(),
            issued_at=data["issued_at"], expires_at=data["expires_at"],
            fingerprint=data["fingerprint"], audience=_scopes_in(data.get("audience")),
        )
    except KeyError:
        return load(AccessToken, raw)
