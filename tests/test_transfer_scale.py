"""A big store moves in pages: SCAN never KEYS, bounded round trips, memory flat in its size."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any, cast

import pytest

from oauth_middleware.store import TokenStore
from oauth_middleware.store._records import Record
from oauth_middleware.store._transfer import PAGE, export, records
from oauth_middleware.store._transfer_write import import_lines
from tests.store_helpers import gateway, redis_of

KEYS = 20_000
#: One access-token record's worth of JSON.
VALUE = b'{"client_id":"web","scopes":"read","subject":"alice","subject_type":"user","v":1}'


class Counting:
    """Counts what the transfer asks of Redis: SCAN pages, pipelines and their sizes."""

    def __init__(self, store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.scans: list[int] = []
        self.pipelines: list[int] = []
        gate, client = gateway(store), redis_of(store)
        scan, run = gate.scan, gate.run

        async def counted_scan(cursor: int, pattern: str, count: int) -> Any:
            self.scans.append(count)
            return await scan(cursor, pattern, count)

        async def counted_run(commands: Any, *args: Any, **kwargs: Any) -> Any:
            if commands and commands[0][0] != "TIME":  # the export's clock read
                self.pipelines.append(len(commands))
            return await run(commands, *args, **kwargs)

        def no_keys(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("KEYS blocks a live Redis: the transfer must SCAN")

        monkeypatch.setattr(gate, "scan", counted_scan)
        monkeypatch.setattr(gate, "run", counted_run)
        monkeypatch.setattr(client, "keys", no_keys)


async def filled(keys: int) -> TokenStore:
    store = TokenStore.from_url(None)
    pipe = redis_of(store).pipeline(transaction=False)
    for i in range(keys):
        pipe.set(store.keys.access(f"g{i % 997}", f"{i:064x}"), VALUE, px=3_600_000)
    await pipe.execute()
    return store


async def test_20000_keys_export_and_import_in_pages_with_flat_memory(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store = await filled(KEYS)
    counting = Counting(store, monkeypatch)
    path = tmp_path / "export.jsonl"
    with path.open("w", encoding="ascii") as out:
        tracemalloc.start()
        try:
            header = await export(store, out, on_unknown=pytest.fail)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert header.records == KEYS and header.counts == {"access_token": KEYS}
    assert set(counting.scans) == {PAGE} and len(counting.scans) >= KEYS // (2 * PAGE)
    # one READ per key, then one EXISTS per key (the pass that drops what was deleted)
    assert max(counting.pipelines) <= 2 * PAGE and sum(counting.pipelines) == 2 * KEYS
    assert path.stat().st_size > 5_000_000
    # A few pages of records and fakeredis's own SCAN bookkeeping (about 1 MB here): never
    # the file, nor a record per key.
    assert peak < path.stat().st_size / 3, peak

    await redis_of(store).flushdb()
    counting.pipelines.clear()
    with path.open("rb") as source:
        moved = await import_lines(store, source, mode="empty")
    assert moved.outcomes == {"written": KEYS}
    assert counting.pipelines == [PAGE] * (KEYS // PAGE)
    assert await redis_of(store).dbsize() == KEYS
    await store.aclose()


async def test_records_are_read_a_page_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    store = await filled(4 * PAGE)
    counting = Counting(store, monkeypatch)
    stream = cast(AsyncGenerator[Record, None], records(store, on_unknown=pytest.fail))
    first = await anext(stream)
    assert first.kind == "access_token"
    assert len(counting.scans) == 1 and sum(counting.pipelines) <= 2 * PAGE
    await stream.aclose()
    await store.aclose()
