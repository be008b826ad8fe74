"""Audit events: one record shape and a fixed vocabulary of types.

An event says who did what to which client, user and grant, and when; it names a
token by its fingerprint (the first characters of its digest) and never holds a
secret: no token, code, client secret, password or CSRF token has a field here, and
every value is checked where the event is built (:func:`clean`). Fields travel as
flat strings, the shape of a Redis Stream entry and of a log line's ``extra``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, get_args

#: Every event type. ``<what>.<happened>``; :mod:`docs/events.md` says what each means.
EventType = Literal[
    "login.succeeded", "login.failed",
    "consent.granted", "consent.denied",
    "code.issued", "code.redeemed", "code.replayed",
    "token.issued", "token.refreshed", "token.revoked", "refresh.reused",
    "client.created", "client.changed", "client.secret_rotated", "client.removed",
    "client.registered",
    "throttle.engaged",
    "request.pushed",
]
EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))

#: The small details an event may carry besides its named fields. A closed set: a key
#: outside it is refused where the event is built, so no caller can attach a secret by
#: naming it freely.
DETAILS = frozenset({"by", "changed", "count", "durable", "grant_type", "reason", "resource",
                     "scopes"})
#: Longest value kept in any field: events describe, they do not archive request data.
MAX_VALUE = 512
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: The same characters as bytes, for :func:`has_control`.
_CONTROL_BYTES = bytes(range(0x20)) + b"\x7f"
#: The named fields, in the order a stream entry and a log line show them.
FIELDS = ("type", "time", "actor", "client", "user", "grant", "fingerprint", "request_id")
#: The named fields a caller gives (the type and time are the event's own).
_NAMED = FIELDS[2:]


def clean(value: str) -> str:
    """``value`` fit for a log line and a terminal: no control characters, bounded."""
    if len(value) <= MAX_VALUE and value.isprintable():  # the usual case, without a regex
        return value
    return _CONTROL.sub("?", value)[:MAX_VALUE]


def has_control(text: str) -> bool:
    """Does ``text`` hold a character :func:`clean` replaces? Asked of every event's
    fields together: deleting the control bytes of its UTF-8 (a control character is one
    byte there, and no byte of another character is one) costs a third less than
    ``str.isprintable``, which looks every character up in Unicode's tables."""
    raw = text.encode("utf-8", "surrogatepass")
    return len(raw.translate(None, _CONTROL_BYTES)) != len(raw)


def scopes_text(scopes: Iterable[str]) -> str:
    """Scopes as one sorted, space-delimited value (RFC 6749 §3.3)."""
    return " ".join(sorted(scopes))


def check(type: str, details: Mapping[str, str]) -> None:
    """Refuse an unknown event type or a detail outside :data:`DETAILS`."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown audit event type {type!r}")
    if not details.keys() <= DETAILS:
        unknown = set(details) - DETAILS
        raise ValueError(f"audit event details {sorted(unknown)} are not among "
                         f"{sorted(DETAILS)}")


def flat(time: float, actor: str, client: str, user: str, grant: str, fingerprint: str,
         request_id: str, details: Mapping[str, str]) -> dict[str, str]:
    """An event's fields but its type, as flat strings in :data:`FIELDS` order (empty ones
    left out, every value :func:`clean`), details after the named ones: the one shape of
    a stream entry, a log line's ``extra`` and a hook's event (:meth:`Event.fields`)."""
    items = fields_of(time, actor, client, user, grant, fingerprint, request_id, details)
    return dict(zip(items[::2], items[1::2], strict=True))


def fields_of(time: float, actor: str, client: str, user: str, grant: str, fingerprint: str,
              request_id: str, details: Mapping[str, str]) -> tuple[str, ...]:
    """:func:`flat` as one tuple of names and values in turn, the shape a script's event
    travels in (``XADD`` takes them so). Built on every token request: strings only, no
    pair of its own (each would be one more object for the collector to count while the
    request runs), and values are cleaned one by one only when all of them together are
    not plainly fine (printable, and no longer than one value may be)."""
    out = ["time", f"{time:.3f}"]
    add = out.append  # two appends cost less than extending by a pair, a tuple of its own
    for name, value in zip(_NAMED, (actor, client, user, grant, fingerprint, request_id),
                           strict=True):
        if value:
            add(name)
            add(value)
    if details:
        for name in sorted(details):
            if value := details[name]:
                add(name)
                add(value)
    text = "".join(out)
    if len(text) <= MAX_VALUE and not has_control(text):
        return tuple(out)
    return tuple([item if n % 2 == 0 else clean(item) for n, item in enumerate(out)])


@dataclass(frozen=True, slots=True)
class Event:
    """One audit event. ``actor`` says who acted: ``client:<id>``, ``user:<id>`` (a person
    through the host's login), ``admin:<id>``, ``cli``, ``host`` (the app's own code) or
    ``cascade`` (a change that followed another). ``id`` is the stream entry's, once
    written."""

    type: EventType
    time: float
    actor: str = ""
    client: str = ""
    user: str = ""
    grant: str = ""
    fingerprint: str = ""
    request_id: str = ""
    details: Mapping[str, str] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        check(self.type, self.details)

    def fields(self) -> dict[str, str]:
        """The event as flat strings (:func:`flat`), its type first."""
        return {"type": self.type, **flat(self.time, self.actor, self.client, self.user,
                                          self.grant, self.fingerprint, self.request_id,
                                          self.details)}

    def with_id(self, entry_id: str) -> Event:
        return replace(self, id=entry_id)

    @classmethod
    def from_fields(cls, entry_id: str, fields: Mapping[str, str]) -> Event | None:
        """The event of a stream entry; None for an entry of a type this version lacks."""
        kind = fields.get("type", "")
        if kind not in EVENT_TYPES:
            return None
        try:
            time = float(fields.get("time", "0"))
        except ValueError:
            time = 0.0
        details = {k: v for k, v in fields.items() if k in DETAILS}
        named = {k: fields.get(k, "") for k in FIELDS[2:]}
        return cls(type=kind, time=time, details=details, id=entry_id,  # type: ignore[arg-type]
                   **named)
