"""The events of grants a change takes with it (issue 18: revoked "by a cascade").

Revoking a grant takes the grants exchanged from it (RFC 8693, :mod:`._exchange`), and
issuing one past its subject's cap displaces the earliest-expiring grants
(``max_grants_per_user``, ``max_grants_per_client``). When the change carries an audit
event with a :class:`~._events.Cascade`, each grant that went gets an event of its own:
the audit layer builds it (its type, actor and reason for the :data:`~._events.Cause`),
the store adds the grant, its client and its user, which only the sweeping script reads
from the grant's records. As for the change's own event (:mod:`._events`): on one server
the script that sweeps appends them itself (:func:`cascaded`), so a grant Redis
acknowledged gone always has its event; on a cluster the stream is in another slot and
they are appended once the scripts answered. Either way the listener hears of each. A
grant found gone already (no record left to say whose it was) gets none.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from typing import Any, NamedTuple, cast

from oauth_middleware.store._context import Context
from oauth_middleware.store._events import (
    Cascade,
    Cause,
    Evented,
    EventStream,
    StreamEvent,
)
from oauth_middleware.store._gateway import Script, texts

#: A grant that went, as the sweeping scripts read it: (grant id, client id, subject,
#: subject type).
Gone = tuple[str, str, str, str]
#: What :func:`cascaded` writes into a form's source: the names of the change's own
#: event, and the cascade events' type and constant fields (``Cascade.constant``).
Shape = tuple[tuple[str, ...], str, tuple[str, ...]]
#: A type or constant field the audit layer gives that a form may quote in its source.
_LITERAL = re.compile(r"[A-Za-z0-9 _.:-]{0,64}")


def cascaded(script: Script, gone: str) -> Script:
    """:func:`cascade_source` of ``script``, as a script of its own."""
    return Script(cascade_source(script.source, gone))


def cascade_source(source: str, gone: str, shape: Shape | None = None) -> str:
    """The Lua ``source`` that also appends one event per grant of the expression ``gone``
    (over the script's reply ``r``: a list of ``{grant, client, subject, subject type}``,
    where ``__grant`` is the grant the arguments name, for a script about one grant).
    The stream is the last key and :meth:`Cascades.parts` the last arguments; the event
    gets the grant's client, its user (none for a client acting for itself) and the
    grant, after the fields the audit layer built. Values read from records are cleaned
    as the audit layer cleans what it builds: control characters to ``?``, 512 bytes.

    With ``shape``, the script is the body of a form of the change's own event
    (:class:`EventedCascade`): it takes no key nor argument, the constant part of the
    template is in its source, and the time, request id, retention and stream are the
    change's event's."""
    if shape is None:
        prologue = """
local __cstream = table.remove(KEYS)
local __count = tonumber(table.remove(ARGV))
local __built = {}
for i = __count, 1, -1 do
  __built[i] = table.remove(ARGV)
end
local __kind = table.remove(ARGV)
local __retention = table.remove(ARGV)
local __grant = table.remove(ARGV)
"""
    else:
        names, kind, constant = shape
        stamp = [f"'{name}', __event[{at}]" for at, name in enumerate(names, 1)
                 if name in ("time", "request_id")]
        built = ", ".join([*stamp, *(f"'{item}'" for item in constant)])
        prologue = f"""
local __cstream = __stream
local __built = {{{built}}}
local __kind = '{kind}'
local __retention = __event[{len(names) + 1}]
local __grant = ''
"""
    return prologue + """local function __swept()
""" + source + """
end
local r = __swept()
local function __add(fields, name, value)
  if value ~= '' then
    fields[#fields + 1] = name
    fields[#fields + 1] = string.sub((string.gsub(value, '%c', '?')), 1, 512)
  end
end
for _, __g in ipairs(""" + gone + """) do
  if __g[2] ~= '' then
    local __fields = {unpack(__built)}
    __add(__fields, 'client', __g[2])
    if __g[4] ~= 'client' then
      __add(__fields, 'user', __g[3])
    end
    __add(__fields, 'grant', __g[1])
    redis.call('XADD', __cstream, 'MAXLEN', '~', __retention, '*', 'type', __kind,
               unpack(__fields))
  end
end
return r
"""


class EventedCascade(Evented):
    """An issuing script with its event and those of the grants it displaces (one server):
    its form for a shape of event also has the cascade's constant fields in its source,
    so an issue sends no template, only its own event's values (:meth:`call_with`)."""

    __slots__ = ("_gone",)

    def __init__(self, script: Script, gone: str, outcome: str) -> None:
        self._gone = gone
        super().__init__(script, outcome)

    def call_with(self, event: StreamEvent, why: Taken, cascades: Cascades
                  ) -> tuple[Script, list[str], list[str]]:
        """The form for ``event`` and the grants ``why`` takes, the keys and the arguments
        it takes after the script's own (the stream's key, once, and the event's values;
        the generic form's: the template too, :meth:`Cascades.parts`)."""
        names = event.fields[::2]
        kind, constant = why.cascade.constant(why.cause)
        shape = (names, kind, constant)
        shaped = self._shapes.get(shape)  # checked once, when its form was made
        if shaped is None and "time" in names and all(map(_LITERAL.fullmatch,
                                                          (kind, *constant))):
            shaped = self.form(shape, names)
        if shaped is not None:
            return shaped, [cascades.key], event.values()
        stream, parts = cascades.parts(why)
        return self.generic, [*stream, cascades.key], [*parts, *event.args()]

    def base(self, shape: Hashable | None) -> str:
        return cascade_source(self._script.source, self._gone, cast(Shape | None, shape))


class Taken(NamedTuple):
    """Grants that go with a change, to record: the change's cascade, why they go, and
    the change's own event (its time and request id are theirs; None: recorded after).
    A named tuple, as :class:`~._events.StreamEvent`: one is built on every issue."""

    cascade: Cascade
    cause: Cause
    like: StreamEvent | None = None

    def event(self, gone: Gone) -> StreamEvent:
        grant, client, subject, subject_type = gone
        return self.cascade(self.cause, grant=grant, client=client,
                            user="" if subject_type == "client" else subject)


def cascade_of(event: StreamEvent | None, cause: Cause, cascade: Cascade | None = None
               ) -> Taken | None:
    """The grants a change takes, to record by ``cascade`` (for a change recorded after it
    is done, by the audit trail itself), else by ``event``'s (None: it records none)."""
    if cascade is not None or event is None:
        return None if cascade is None else Taken(cascade, cause)
    return None if event.cascade is None else Taken(event.cascade, cause, event)


def gone_of(grant_ids: Iterable[str], replies: Iterable[Any]) -> list[Gone]:
    """What ``SWEEP_GRANT`` replies (client, subject, subject type first) say went."""
    found: list[Gone] = []
    for grant, reply in zip(grant_ids, replies, strict=True):
        client, subject, subject_type = texts(reply[:3])
        found.append((grant, client, subject, subject_type))
    return found


class Cascades:
    """Passes a cascade to the sweeping scripts, and tells of the grants they took."""

    def __init__(self, ctx: Context) -> None:
        self._events = EventStream(ctx)
        #: The stream's key.
        self.key = self._events.key

    def in_script(self, why: Taken | None) -> bool:
        """Does the sweeping script append the events itself (one server)?"""
        return why is not None and self._events.in_script()

    def parts(self, why: Taken, grant: str = "") -> tuple[list[str], list[str]]:
        """The stream key and the arguments :func:`cascaded` takes after the script's own:
        ``grant`` (the one the script is about, if one), then of the audit layer's
        template the event's retention, type, fields and their count."""
        kind, retention, fields = why.cascade.template(why.cause, why.like)
        return [self._events.key], [grant, str(retention), kind, *fields, str(len(fields))]

    async def after(self, why: Taken | None, gone: Iterable[Gone], *,
                    confirmed: bool = True) -> None:
        """The grants a change took: on a cluster their events are appended now; on every
        backend the listener hears of each (``confirmed``: as ``EventStream.after``), when
        there is one: on one server the scripts wrote them, and nothing is left to do."""
        if why is None or (self._events.in_script() and not why.cascade.listening()):
            return
        for grant in gone:
            if grant[1]:
                await self._events.after(why.event(grant), 1, confirmed=confirmed)
