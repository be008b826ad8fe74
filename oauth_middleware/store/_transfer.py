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

On a live store an export is each key as it was when read, and then only if
it still exists once every key was read: a second pass (one ``EXISTS`` per
key, pipelined) leaves out what was deleted meanwhile, so a token revoked
before the export ends is absent from the file; a copy into an empty target
prunes the same way. A key rewritten after it was read (a refresh rotation)
travels as it was read. Into a store that holds keys already, an import is a merge, and refuses to
start unless told how: ``skip`` keeps the target's strings and members,
``replace`` lets the file's win. Either way a key the file has and the
target lacks is written, so importing an old file brings back what was
revoked since; a restore goes into an empty store.

``cache:generation`` is not moved: each Redis keeps its own, for the local
cache to notice a swapped database.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import IO, TYPE_CHECKING, Any

from oauth_middleware.store._gateway import Command, Script, evalsha
from oauth_middleware.store._records import NOT_MOVED, Header, Record, Value, text
from oauth_middleware.store._transfer_scripts import READ
from oauth_middleware.store.keys import KINDS, kind_of

if TYPE_CHECKING:
    from oauth_middleware.store import TokenStore

#: Keys per SCAN page and per pipelined round trip of reads or writes.
PAGE = 500


#: The scripts that read and write one key, called by SHA through the gateway (which
#: routes each by its key on a cluster, and loads it where it is missing).
READ_SCRIPT = Script(READ)


async def each(store: TokenStore, commands: list[Command], *scripts: Script) -> list[Any]:
    """``commands`` in one round trip of the store's gateway (one per node on a cluster);
    an error reply fails the call, as a pipeline's would."""
    return await store._gateway.run(commands, *scripts) if commands else []


def _pattern(prefix: str) -> str:
    """A SCAN pattern for every key under ``prefix`` (the prefix has no glob characters;
    a backslash would escape the next one)."""
    return prefix.replace("\\", "\\\\") + "*"


async def pages(store: TokenStore, page: int) -> AsyncIterator[list[str]]:
    cursor = 0
    while True:
        cursor, names = await store._gateway.scan(cursor, _pattern(store.keys.prefix), page)
        if names:
            yield names
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
    await store._gateway.load(READ_SCRIPT)
    async for keys in pages(store, page):
        known = _classified(store, keys, on_unknown)
        replies = await each(store, [evalsha(READ_SCRIPT, [store.keys.prefix + name], [])
                                     for name, _ in known], READ_SCRIPT)
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
    ((seconds, micros),) = await each(store, [("TIME",)])
    unknown = 0

    def report(key: str) -> None:
        nonlocal unknown
        unknown += 1
        on_unknown(key)

    with (tempfile.TemporaryFile("w+", encoding="ascii") as spool,
          tempfile.TemporaryFile("w+", encoding="ascii") as kept):
        async for record in records(store, on_unknown=report, page=page):
            spool.write(record.line())
        spool.seek(0)
        counts = await _still_there(store, spool, kept, page)
        header = Header(store.keys.prefix, int(seconds) * 1000 + int(micros) // 1000, dict(counts),
                        unknown)
        out.write(header.line())
        kept.seek(0)
        while chunk := kept.read(1 << 16):
            out.write(chunk)
    return header


async def present(store: TokenStore, keys: list[str]) -> list[bool]:
    """Which of ``keys`` exist now: one ``EXISTS`` each, pipelined (each routable alone)."""
    return [bool(n) for n in await each(store, [("EXISTS", key) for key in keys])]


async def _still_there(store: TokenStore, spool: IO[str], kept: IO[str],
                       page: int) -> Counter[str]:
    """Copy to ``kept`` the records of ``spool`` whose key still exists, a page at a time.

    A grant revoked while the export ran (after its keys were read) is left out: what is
    in the file was live when the export ended, not only when its key was read.
    """
    counts: Counter[str] = Counter()
    while batch := [(json.loads(line), line) for line in itertools.islice(spool, page)]:
        there = await present(store, [store.keys.prefix + data["key"] for data, _ in batch])
        for (data, line), live in zip(batch, there, strict=True):
            if live:
                kept.write(line)
                counts[data["kind"]] += 1
    return counts


async def unknown_keys(store: TokenStore, *, page: int = PAGE) -> AsyncIterator[str]:
    """Every key under the store's prefix that the key schema does not describe (by name,
    or holding another Redis type than its name says): for ``store check``."""
    async for keys in pages(store, page):
        strange: list[str] = []
        known = _classified(store, keys, strange.append)
        types = await each(store, [("TYPE", store.keys.prefix + name) for name, _ in known])
        for (name, kind), redis_type in zip(known, types, strict=True):
            if text(redis_type) not in ("none", KINDS[kind][0]):
                strange.append(store.keys.prefix + name)
        for key in strange:
            yield key
