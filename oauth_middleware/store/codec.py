"""JSON encoding of the stored records (the value column of the key schema in ``keys``).

One generic codec for every frozen record: tuples become lists, scope sets
become one sorted space-delimited string, so the same record always encodes to
the same bytes. The grant scripts rely on that: they compare stored values byte
for byte (compare-and-set) to make redemption and rotation single-winner.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance as _Record

_dumps = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode


R = TypeVar("R", bound="_Record")


def _scopes_in(value: Any) -> frozenset[str]:
    return frozenset(value.split()) if value else frozenset()


def _identity(value: Any) -> Any:
    return value


@cache
def _loaders(cls: type[_Record]) -> tuple[tuple[str, Callable[[Any], Any]], ...]:
    """Per field: how a JSON value turns back into the dataclass field's type."""
    plan: list[tuple[str, Callable[[Any], Any]]] = []
    for f in fields(cls):
        kind = str(f.type)
        if kind.startswith("frozenset"):
            plan.append((f.name, _scopes_in))
        elif kind.startswith("tuple"):
            plan.append((f.name, tuple))
        else:
            plan.append((f.name, _identity))
    return tuple(plan)


def dump(record: _Record) -> str:
    out: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if isinstance(value, frozenset):
            value = " ".join(sorted(value))
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return _dumps(out)


def load(cls: type[R], raw: bytes | str) -> R:
    data = json.loads(raw)
    kwargs = {name: conv(data[name]) for name, conv in _loaders(cls) if name in data}
    return cls(**kwargs)
