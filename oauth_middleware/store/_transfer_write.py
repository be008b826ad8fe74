"""Writing the store's data: an export file's records, or another store's, one script per key.

See :mod:`._transfer` for the whole design. Each key is written whole by one script
(:data:`._transfer_scripts.WRITE`), :data:`._transfer.PAGE` keys per round trip, so a
crash leaves every key whole or absent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Literal

from oauth_middleware.store._gateway import Script, evalsha
from oauth_middleware.store._records import (
    NOT_MOVED,
    BadLine,
    Record,
    parse_header,
    parse_record,
    raw,
    text,
)
from oauth_middleware.store._transfer import PAGE, each, pages, present, records
from oauth_middleware.store._transfer_scripts import WRITE
from oauth_middleware.store.keys import kind_of

#: The script that writes one key whole (routed by its key, loaded where missing).
WRITE_SCRIPT = Script(WRITE)

if TYPE_CHECKING:
    from collections.abc import Callable

    from oauth_middleware.store import TokenStore

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


async def refuse_if_not_empty(store: TokenStore) -> None:
    """:class:`NotEmpty` when any key of the schema is under the target's prefix."""
    async for keys in pages(store, PAGE):
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
        self._loaded = False

    async def add(self, record: Record) -> None:
        self._pending.append(record)
        if len(self._pending) >= PAGE:
            await self.flush()

    async def flush(self) -> None:
        if not self._pending:
            return
        if not self._loaded:
            await self.store._gateway.load(WRITE_SCRIPT)
            self._loaded = True
        prefix, mode = self.store.keys.prefix, "replace" if self.mode == "replace" else "skip"
        outcomes = await each(self.store, [
            evalsha(WRITE_SCRIPT, [prefix + record.name],
                    [mode, record.type, record.expires_at or 0, *self._values(record)])
            for record in self._pending], WRITE_SCRIPT)
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
            if line.strip():  # a blank line (an editor's last newline) holds nothing
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
    pruned = await _prune(source, target) if mode == "empty" else 0
    if pruned:
        writer.moved.outcomes["pruned"] = pruned
    return writer.moved


async def _prune(source: TokenStore, target: TokenStore) -> int:
    """Delete from ``target`` (empty before the copy) what ``source`` no longer has.

    A grant revoked while the copy ran, after its keys were copied, is deleted again:
    what the target holds was live in the source when the copy ended.
    """
    pruned = 0
    async for keys in pages(target, PAGE):
        names = [key[len(target.keys.prefix):] for key in keys]
        there = await present(source, [source.keys.prefix + name for name in names])
        gone = [key for key, name, live in zip(keys, names, there, strict=True)
                if not live and kind_of(name) not in NOT_MOVED]
        pruned += sum(await each(target, [("DEL", key) for key in gone]))
    return pruned
