"""The audit trail's Redis Stream: bounded appends, paging back, following.

Events are flat string fields (the audit layer builds them; nothing here knows what an
event means). Every append trims the stream with ``MAXLEN ~ <retention>``: Redis drops
whole macro nodes, so the stream stays at most a node (100 entries by default) above the
bound, at the cost of one ``XADD`` argument.

Where a change is one Lua script, the event goes in the same round trip
(:func:`evented`): on a single node (and the embedded store) the script itself appends
it, choosing the event type from its own outcome, so a change Redis acknowledged always
has its event. A script on a Redis Cluster may touch one slot only, and the stream has
its own tag (``{events}``, one listable stream): there the event is appended in the
next round trip, once the script answered and before the caller is (:mod:`.keys` states
the guarantee change).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Literal, NamedTuple, Protocol

from oauth_middleware.store._context import Context
from oauth_middleware.store._gateway import Command, Script, texts

#: Longest wait of one :meth:`EventStream.follow` (ms), below the socket timeout.
MAX_BLOCK_MS = 250

#: A stream entry: its id (``<ms>-<seq>``) and its fields.
Entry = tuple[str, dict[str, str]]
#: The field of an event whose change no replica confirmed in time (:meth:`EventStream.after`).
UNCONFIRMED = ("durable", "unconfirmed")
#: A control character: refused in an event's fields (the audit layer replaces them).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A field name :class:`Evented` writes into a script's source.
_NAME = re.compile(r"[a-z_]{1,32}")
#: Most shapes of event one :class:`Evented` makes a form for (the audit layer builds a few).
MAX_SHAPES = 16
#: Most names a form may hold: each is a constant and a value of one Lua call, and Redis's
#: Lua refuses to compile a call that long (116 names did not compile on Redis 7.0); the
#: audit layer's events have at most 15, and the generic form takes any number.
MAX_NAMES = 48
#: ``heard(entry_id, fields)``: told of an event once it is written (the id "" when the
#: script wrote it itself: a script's reply is its change's, not the entry's).
Heard = Callable[[str, dict[str, str]], Awaitable[None]]
#: Why the store took a grant with another change: exchanged from a revoked grant (RFC
#: 8693), or displaced past its subject's cap.
Cause = Literal["exchanged", "displaced"]


class Cascade(Protocol):
    """The audit layer's events of grants that went with a change (:mod:`._cascade`)."""

    def __call__(self, cause: Cause, *, grant: str = "", client: str = "",
                 user: str = "") -> StreamEvent:
        """The event of one grant, once the store knows its client and user."""

    def template(self, cause: Cause, like: StreamEvent | None
                 ) -> tuple[str, int, tuple[str, ...]]:
        """What a script completes with each grant's client, user and id: the type, the
        retention and the fields (names and values in turn), of the time and request id
        of ``like`` (the change's own event; None: of now)."""

    def constant(self, cause: Cause) -> tuple[str, tuple[str, ...]]:
        """The part of :meth:`template` that is the same for every change of ``cause``:
        the type, and the fields but the time and request id."""

    def listening(self) -> bool:
        """Does anything but the stream hear of events (:meth:`EventStream.after`)?"""


class StreamEvent(NamedTuple):
    """An event to append with a script's change: ``won`` is its type when the change was
    made, ``lost`` when the script refused it for a replay ("" writes nothing then). A
    replay's event names the value presented (``presented``, a fingerprint) in place of
    the ``fingerprint`` of the token it would have issued. ``fields`` are names and values
    in turn, as ``XADD`` takes them, its time first.

    ``heard`` is told of whichever event the outcome wrote, with the very fields the
    stream has, on every backend (:meth:`EventStream.after`): the script chooses the
    type on one server, so only the store knows which event there is to tell.

    A named tuple, not a frozen dataclass as other records: two are built on every token
    request with an audit trail, and a frozen dataclass sets each field through
    ``object.__setattr__``, which cost twice the tuple's construction."""

    won: str
    fields: tuple[str, ...]
    retention: int
    lost: str = ""
    presented: str = ""
    heard: Heard | None = None
    #: The events of grants the change takes with it (None: not recorded).
    cascade: Cascade | None = None

    def stamped(self, grant: str, fingerprint: str, presented: str = "") -> StreamEvent:
        """The event with what only the store knows: its grant, the fingerprint of the
        token it issues (in place of any the audit layer gave) and that of the value
        presented, when one was."""
        fields = self.fields
        names = fields[::2]
        if "grant" in names or "fingerprint" in names:
            fields = tuple([item for n, item in enumerate(fields)
                            if fields[n - n % 2] not in ("grant", "fingerprint")])
        return StreamEvent(self.won, (*fields, "grant", grant, "fingerprint", fingerprint),
                           self.retention, self.lost, presented or self.presented, self.heard,
                           self.cascade)

    def written(self, outcome: int) -> dict[str, str] | None:
        """The entry an outcome (1 won, 2 lost, else nothing) writes: its type, then the
        fields (a replay's with the value presented as its fingerprint); None for none."""
        kind = self.won if outcome == 1 else self.lost if outcome == 2 else ""
        if not kind:
            return None
        fields = {"type": kind, **dict(zip(self.fields[::2], self.fields[1::2], strict=True))}
        if outcome == 2:
            fields.pop("fingerprint", None)
            if self.presented:
                fields["fingerprint"] = self.presented
        return fields

    def args(self) -> list[str]:
        """The script arguments :func:`evented` takes off the end of ``ARGV``: the fields'
        names and values as they are (the script hands them to ``XADD`` unparsed), how many
        they are, the retention, the two types and the value presented. A field holding a
        control character is refused (the audit layer replaces them: a stream entry is
        shown on terminals).

        The generic form's: a script of the event's shape takes :meth:`values`
        (:class:`Evented`). Names sent as a letter each, named again by the script, were
        measured and dropped: that cost Redis 0.9 µs an event, and Redis is the one every
        worker shares."""
        _check(self.fields)
        return [*self.fields, str(len(self.fields)), str(self.retention), self.won, self.lost,
                self.presented]

    def values(self) -> list[str]:
        """:meth:`args` without the names and their count, for the script of this event's
        shape (:class:`Evented`)."""
        values = self.fields[1::2]
        _check(values)
        return [*values, str(self.retention), self.won, self.lost, self.presented]


def _check(fields: Sequence[str]) -> None:
    """Refuse fields holding a control character (the audit layer replaces them: a stream
    entry is shown on terminals)."""
    text = "".join(fields)
    if not text.isprintable() and _CONTROL.search(text):
        raise ValueError("an audit event field holds a control character")


def xadd(key: str, fields: Mapping[str, str], retention: int) -> Command:
    """The bounded append (``MAXLEN ~``: Redis trims whole nodes, cheaply)."""
    flat = [item for pair in fields.items() for item in pair]
    return ("XADD", key, "MAXLEN", "~", retention, "*", *flat)


def evented(source: str, outcome: str, names: tuple[str, ...] = ()) -> Script:
    """The script of Lua ``source`` that also appends the event passed after its own
    arguments (the stream
    the last key, :meth:`StreamEvent.args` the last arguments): of type ``won`` when the
    Lua expression ``outcome`` (over the script's reply ``r``) is 1, ``lost`` when it is 2.
    The original body runs unchanged inside a function, with its own keys and arguments.
    The fields go to ``XADD`` as they came, unless a replay swaps the fingerprint: the
    append costs Redis little more than the ``XADD`` itself.

    With ``names`` (checked by :class:`Evented`), the script is that shape's: the names
    are in its source and the arguments are :meth:`StreamEvent.values`."""
    count = len(names) or "tonumber(ARGV[__argc - 4])"
    extra = 3 if names else 4
    if names:
        fields = ", ".join(f"'{name}', __event[{n}]" for n, name in enumerate(names, 1))
        kept = ", ".join(f"'{name}', __event[{n}]" for n, name in enumerate(names, 1)
                         if name != "fingerprint")
        keep = f"local __fields = {{{kept}}}"
    else:
        fields = "unpack(__event, 1, __count)"
        keep = """local __fields = {}
  for i = 1, __count - 1, 2 do
    if __event[i] ~= 'fingerprint' then
      __fields[#__fields + 1] = __event[i]
      __fields[#__fields + 1] = __event[i + 1]
    end
  end"""
    return Script(f"""
local __stream = table.remove(KEYS)
local __argc = #ARGV
local __count = {count}
local __first = __argc - {extra} - __count
local __event = {{unpack(ARGV, __first, __argc)}}
for i = __argc, __first, -1 do
  ARGV[i] = nil
end
local function __body()
{source}
end
local r = __body()
local __outcome = {outcome}
local __at = __count + {extra - 2}
if __outcome == 1 and __event[__at + 1] ~= '' then
  redis.call('XADD', __stream, 'MAXLEN', '~', __event[__at], '*',
             'type', __event[__at + 1], {fields})
elseif __outcome == 2 and __event[__at + 2] ~= '' then
  {keep}
  if __event[__at + 3] ~= '' then
    __fields[#__fields + 1] = 'fingerprint'
    __fields[#__fields + 1] = __event[__at + 3]
  end
  redis.call('XADD', __stream, 'MAXLEN', '~', __event[__at], '*',
             'type', __event[__at + 2], unpack(__fields))
end
return r
""")


class Evented:
    """A script with its event (:func:`evented`), in one form per shape of event: the
    names of the event's fields are in that form's source, so a call sends only their
    values, about half an event's arguments (each costs the worker about 1,100
    instructions to pack), and costs Redis less than the generic form, which takes the
    names as arguments and has more of them to read (5.9 against 7.7 µs a call, medians
    of nine paired rounds of 30,000 calls, ``INFO commandstats``). A form is made the
    first time its shape is called, loaded into Redis then (``NOSCRIPT``), and kept: the
    audit layer builds a few shapes, and past :data:`MAX_SHAPES` of them, or for a name
    that is not plain lower case, the generic form serves."""

    __slots__ = ("_outcome", "_script", "_shapes", "generic")

    def __init__(self, script: Script, outcome: str) -> None:
        self._script, self._outcome = script, outcome
        self._shapes: dict[Hashable, Script] = {}
        self.generic = evented(self.base(None), outcome)

    def call(self, event: StreamEvent) -> tuple[Script, list[str]]:
        """The form for ``event`` and the arguments it takes after the script's own."""
        names = event.fields[::2]
        shaped = self.form(names, names)
        return (self.generic, event.args()) if shaped is None else (shaped, event.values())

    def form(self, shape: Hashable, names: tuple[str, ...]) -> Script | None:
        """The form of ``shape`` (an event of ``names``), made on its first call; None for
        the generic form."""
        shaped = self._shapes.get(shape)
        if shaped is None:
            if len(self._shapes) >= MAX_SHAPES or not 0 < len(names) <= MAX_NAMES or not all(
                    map(_NAME.fullmatch, names)):
                return None
            shaped = self._shapes[shape] = evented(self.base(shape), self._outcome, names)
        return shaped

    def base(self, shape: Hashable | None) -> str:
        """The Lua source a form of ``shape`` wraps (None: the generic form's; the same for
        every shape here): source, not a ``Script``, which every readiness check would
        load though nothing calls it by itself."""
        return self._script.source


class EventStream:
    """The one stream of events: appends, pages newest first, follows."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._gateway = ctx.gateway
        self.key = ctx.keys.events

    def in_script(self) -> bool:
        """May a script append the event itself (one server), or must it follow the
        script's answer (a cluster: the stream is in another slot)?"""
        return not self._gateway.cluster

    def scripted(self, family: Evented, event: StreamEvent | None
                 ) -> tuple[Script, list[str]] | None:
        """``family``'s form for ``event`` and the arguments it takes after the script's own
        (its keys end with :attr:`key`), when the script appends the event itself (one
        server); None without an event, or on a cluster (:meth:`after` appends it)."""
        if event is None or not self.in_script():
            return None
        return family.call(event)

    def command(self, fields: Mapping[str, str], retention: int) -> Command:
        """The append of one event, for a caller that sends it with its change."""
        return xadd(self.key, fields, retention)

    async def append(self, fields: Mapping[str, str], retention: int) -> str:
        """Append one event; its stream id."""
        return texts([await self._gateway.one(self.command(fields, retention))])[0]

    async def after(self, event: StreamEvent | None, outcome: int, *,
                    confirmed: bool = True) -> None:
        """What a script that answered ``outcome`` (1 won, 2 lost) wrote: on a cluster its
        event is appended now; on every backend the event's listener hears of it.

        ``confirmed=False``: the script ran on the primary but its ``WAIT`` fell short
        (``StoreNotDurable``, a 503), so a failover may still undo the change. The event
        then carries :data:`UNCONFIRMED`: the logger and the hook live outside Redis and
        would keep an event whose change was lost; the entry a script appended itself is
        replicated with its change and shares its fate, so it stays as written."""
        if event is None or (event.heard is None and self.in_script()):
            return
        fields = event.written(outcome)
        if fields is None:
            return
        if not confirmed:
            fields.update((UNCONFIRMED,))
        entry_id = "" if self.in_script() else await self.append(fields, event.retention)
        if event.heard is not None:
            await event.heard(entry_id, fields)

    async def page(self, before: str | None, count: int) -> list[Entry]:
        """Up to ``count`` events, newest first, older than the id ``before`` (None: the
        newest)."""
        end = "+" if before is None else f"({before}"
        reply = await self._gateway.one(("XREVRANGE", self.key, end, "-", "COUNT", count))
        return [_entry(item) for item in reply]

    async def follow(self, after: str, count: int, block_ms: int) -> list[Entry]:
        """Events after the id ``after`` (``$``: from now), waiting up to ``block_ms``
        (at most :data:`MAX_BLOCK_MS`: the wait shares the gateway's pipeline and its
        socket timeout, so a follower asks again rather than blocking long)."""
        wait = max(0, min(block_ms, MAX_BLOCK_MS))
        reply = await self._gateway.one(
            ("XREAD", "COUNT", count, "BLOCK", wait, "STREAMS", self.key, after))
        if not reply:
            return []
        streams: Sequence[Any] = list(reply.values()) if isinstance(reply, dict) else [
            entries for _, entries in reply]
        return [_entry(item) for entries in streams for item in entries]

    async def length(self) -> int:
        return int(await self._gateway.one(("XLEN", self.key)))


def _entry(item: Sequence[Any]) -> Entry:
    """One entry of a reply: its fields come as a dict (redis-py parsed them) or flat."""
    entry_id, raw = item
    flat = texts([v for pair in raw.items() for v in pair] if isinstance(raw, dict) else raw)
    return texts([entry_id])[0], dict(zip(flat[::2], flat[1::2], strict=True))
