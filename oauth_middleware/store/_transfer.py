"""Moving the store's data: export to JSON lines, import from them, copy between Redis servers.

Export walks the keys under the prefix with ``SCAN`` (pages of :data:`PAGE`
keys, never ``KEYS``: a live Redis keeps serving) and reads each with one
script (:data:`._transfer_scripts.READ`), pipelined a page at a time: a key's
value and its TTL come from one atomic step, so no value travels with a TTL
that is not its own. Import and copy write each key with one script
(:data:`._transfer_scripts.WRITE`), a page per round trip: a crash leaves
every key whole or absent. Memory stays constant whatever the store's size:
a page of keys at a time (the export's records wait in a temporary file so
that its header, first, can count them).

On a live store an export is each key as it was when read: a token revoked
before its key is read is absent from the file, one revoked after is in it.
Into a store that holds keys already, an import is a merge, and refuses to
start unless told how: ``skip`` keeps the target's strings and members,
``replace`` lets the file's win. Either way a key the file has and the
target lacks is written, so importing an old file brings back what was
revoked since; a restore goes into an empty store.

``cache:generation`` is not moved: each Redis keeps its own, for the local
cache to notice a swapped database.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Literal

from oauth_middleware.store._records import (
    NOT_MOVED,
    BadLine,
    Header,
    Record,
    Value,
    parse_header,
    parse_record,
    raw,
    text,
)
from oauth_middleware.store._transfer_scripts import READ, WRITE
from oauth_middleware.store.connection import GUARD
from oauth_middleware.store.keys import KINDS, kind_of

if TYPE_CHECKING:
    from oauth_middleware.store import TokenStore

#: Keys per SCAN page and per pipelined round trip of reads or writes.
PAGE = 500
#: Longest line an import reads (bytes): a client's grant index is the largest value.
MAX_LINE = 64 * 1024 * 1024

#: ``empty``: refuse a target that holds keys; ``skip``/``replace``: merge (see module doc).
Mode = Literal["empty", "skip", "replace"]


class NotEmpty(ValueError):
    """The target already holds keys under the prefix and no merge mode was chosen."""


@dataclass(slots=True)
class Moved:
    """What an import or copy did: records per kind, and per outcome of the write script."""

    kinds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)

    @property
    def records(self) -> int:
        return sum(self.kinds.values())


def _redis(store: TokenStore) -> Any:
    """The store's redis-py client: the one place this module reaches below the store's API."""
    return store.redis


def _pattern(prefix: str) -> str:
    """A SCAN pattern for every key under ``prefix`` (the prefix has no glob characters;
    a backslash would escape the next one)."""
    return prefix.replace("\\", "\\\\") + "*"


async def _pages(store: TokenStore, page: int) -> AsyncIterator[list[str]]:
    client, cursor = _redis(store), 0
    while True:
        with GUARD:
            cursor, names = await client.scan(cursor, match=_pattern(store.keys.prefix),
                                              count=page)
        if names:
            yield [text(name) for name in names]
        if not cursor:
            return


def _classified(store: TokenStore, keys: list[str],
                on_unknown: Callable[[str], None]) -> list[tuple[str, str]]:
    """``(name after the prefix, kind)`` of the keys to move; the others reported."""
    prefix, known = store.keys.prefix, []
    for key in keys:
        name = key[len(prefix):]
        kind = kind_of(name)
        if kind is None:
            on_unknown(key)
        elif kind not in NOT_MOVED:
            known.append((name, kind))
    return known


async def records(store: TokenStore, *, on_unknown: Callable[[str], None],
                  page: int = PAGE) -> AsyncIterator[Record]:
    """Every key under the store's prefix as a :class:`Record`, a page at a time; keys the
    schema does not know (by name, or by type) go to ``on_unknown``, with their prefix."""
    client = _redis(store)
    with GUARD:
        sha = await client.script_load(READ)
    async for keys in _pages(store, page):
        known = _classified(store, keys, on_unknown)
        pipe = client.pipeline(transaction=False)
        for name, _ in known:
            pipe.evalsha(sha, 1, store.keys.prefix + name)
        with GUARD:
            replies = await pipe.execute() if known else []
        for (name, kind), reply in zip(known, replies, strict=True):
            if reply[0] == b"none":
                continue  # gone since SCAN listed it: expired, revoked or rotated away
            if text(reply[0]) != KINDS[kind][0]:
                on_unknown(store.keys.prefix + name)
                continue
            yield _record(name, kind, reply)


def _record(name: str, kind: str, reply: list[Any]) -> Record:
    redis_type, pttl, now, values = text(reply[0]), int(reply[1]), int(reply[2]), reply[3]
    items = [text(v) for v in values]
    value: Value
    if redis_type == "string":
        value = items[0]
    elif redis_type == "set":
        value = sorted(items)
    elif redis_type == "hash":
        value = dict(sorted(zip(items[::2], items[1::2], strict=True)))
    else:
        value = [[member, score] for member, score in zip(items[::2], items[1::2], strict=True)]
    return Record(name, kind, redis_type, value, now + pttl if pttl >= 0 else None)


async def export(store: TokenStore, out: IO[str], *,
                 on_unknown: Callable[[str], None], page: int = PAGE) -> Header:
    """Write the header and every record to ``out``; the header counts what follows it."""
    with GUARD:
        seconds, micros = await _redis(store).time()
    counts: Counter[str] = Counter()
    with tempfile.TemporaryFile("w+", encoding="ascii") as spool:
        async for record in records(store, on_unknown=on_unknown, page=page):
            spool.write(record.line())
            counts[record.kind] += 1
        header = Header(store.keys.prefix, seconds * 1000 + micros // 1000, dict(counts))
        out.write(header.line())
        spool.seek(0)
        while chunk := spool.read(1 << 16):
            out.write(chunk)
    return header


async def unknown_keys(store: TokenStore, *, page: int = PAGE) -> AsyncIterator[str]:
    """Every key under the store's prefix that the key schema does not describe (by name,
    or holding another Redis type than its name says): for ``store check``."""
    client = _redis(store)
    async for keys in _pages(store, page):
        strange: list[str] = []
        known = _classified(store, keys, strange.append)
        pipe = client.pipeline(transaction=False)
        for name, _ in known:
            pipe.type(store.keys.prefix + name)
        with GUARD:
            types = await pipe.execute() if known else []
        for (name, kind), redis_type in zip(known, types, strict=True):
            if text(redis_type) not in ("none", KINDS[kind][0]):
                strange.append(store.keys.prefix + name)
        for key in strange:
            yield key


async def refuse_if_not_empty(store: TokenStore) -> None:
    """:class:`NotEmpty` when any key of the schema is under the target's prefix."""
    async for keys in _pages(store, PAGE):
        if any(kind_of(key[len(store.keys.prefix):]) not in NOT_MOVED for key in keys):
            raise NotEmpty(f"the target already holds keys under {store.keys.prefix!r}: "
                           "choose --skip-existing (keep its values) or --replace "
                           "(the file's win); both merge")


class Writer:
    """Writes records, one script per key, :data:`PAGE` keys per round trip."""

    def __init__(self, store: TokenStore, mode: Mode, from_prefix: str) -> None:
        self.store, self.mode, self.from_prefix = store, mode, from_prefix
        self.moved = Moved()
        self._pending: list[Record] = []
        self._sha: str | None = None

    async def add(self, record: Record) -> None:
        self._pending.append(record)
        if len(self._pending) >= PAGE:
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        client, prefix = _redis(self.store), self.store.keys.prefix
        with GUARD:
            if self._sha is None:
                self._sha = await client.script_load(WRITE)
            pipe = client.pipeline(transaction=False)
            for record in self._pending:
                pipe.evalsha(self._sha, 1, prefix + record.name,
                             "replace" if self.mode == "replace" else "skip", record.type,
                             record.expires_at or 0, *self._values(record))
            outcomes = await pipe.execute()
        for record, outcome in zip(self._pending, outcomes, strict=True):
            self.moved.kinds[record.kind] += 1
            self.moved.outcomes[text(outcome)] += 1
        self._pending.clear()

    def _values(self, record: Record) -> list[bytes]:
        value = record.value
        if isinstance(value, str):
            return [raw(value)]
        if isinstance(value, dict):
            return [raw(s) for pair in value.items() for s in pair]
        if record.type == "zset":
            return [raw(s) for pair in value if isinstance(pair, list) for s in (pair[1], pair[0])]
        members = [m for m in value if isinstance(m, str)]
        if record.kind == "grant_members" and self.from_prefix != self.store.keys.prefix:
            members = [self._renamed(m) for m in members]
        return [raw(m) for m in members]

    def _renamed(self, key: str) -> str:
        """A grant's member set names keys in full: under the target's prefix now."""
        if key.startswith(self.from_prefix):
            return self.store.keys.prefix + key[len(self.from_prefix):]
        return key


def _line(stream: IO[bytes], number: int, max_line: int) -> bytes:
    line = stream.readline(max_line + 1)
    if len(line) > max_line:
        raise BadLine(number, f"longer than {max_line} bytes")
    return line


async def import_lines(store: TokenStore, stream: IO[bytes], *, mode: Mode,
                       prefix_from: str | None = None, max_line: int = MAX_LINE) -> Moved:
    """Import an export file; ``BadLine`` names the first line that cannot be, after the
    lines before it were written (each record whole, nothing of the bad one)."""
    header = parse_header(_line(stream, 1, max_line))
    if header.prefix != store.keys.prefix and header.prefix != prefix_from:
        raise ValueError(f"the file holds keys under {header.prefix!r}, this store's prefix "
                         f"is {store.keys.prefix!r}: pass --prefix-from {header.prefix!r} "
                         "to import them under this store's prefix")
    if mode == "empty":
        await refuse_if_not_empty(store)
    writer, number = Writer(store, mode, header.prefix), 1
    try:
        while line := _line(stream, number + 1, max_line):
            number += 1
            await writer.add(parse_record(line, number))
    except BadLine as exc:
        await writer.flush()
        raise BadLine(exc.number, f"{exc.reason} ({writer.moved.records} records before "
                                  "it imported)") from None
    await writer.flush()
    if writer.moved.records != header.records:
        raise BadLine(number, f"the header counts {header.records} records, the file has "
                              f"{writer.moved.records} (all imported): cut short or edited?")
    return writer.moved


async def copy(source: TokenStore, target: TokenStore, *, mode: Mode,
               on_unknown: Callable[[str], None]) -> Moved:
    """Every record of ``source`` written into ``target`` as :func:`import_lines` would."""
    if mode == "empty":
        await refuse_if_not_empty(target)
    writer = Writer(target, mode, source.keys.prefix)
    async for record in records(source, on_unknown=on_unknown):
        await writer.add(record)
    await writer.flush()
    return writer.moved
