"""The export file as input: every malformed line refused by number, nothing of it written."""

from __future__ import annotations

import io
import json
from typing import Any, cast

import pytest

from oauth_middleware.store import TokenStore
from oauth_middleware.store._records import BadLine
from tests.store_helpers import gateway, redis_of
from tests.transfer_harness import exported, imported, joined, lines

HEADER = {"format": "oauth-middleware-store", "version": 1, "prefix": "om:",
          "exported_at": 1, "records": 3, "counts": {"clients": 3}}


def clients(name: str) -> dict[str, Any]:
    return {"kind": "clients", "key": "clients", "type": "set", "expires_at": None,
            "value": [name]}


BAD_RECORDS = {
    "not JSON": "{nope",
    "a JSON array": "[1, 2]",
    "an extra field": {**clients("x"), "extra": 1},
    "a key of another kind": {**clients("x"), "key": "client:x"},
    "a key outside the schema": {**clients("x"), "kind": "client", "key": "client:../x"},
    "a control character in the key": {**clients("x"), "kind": "client", "type": "string",
                                       "key": "client:a\nb", "value": "{}"},
    "an unknown kind": {**clients("x"), "kind": "keys"},
    "another type than its kind's": {**clients("x"), "type": "hash"},
    "an empty set": {**clients("x"), "value": []},
    "a set of numbers": {**clients("x"), "value": [1]},
    "a negative expiry": {**clients("x"), "expires_at": -5},
    "a boolean expiry": {**clients("x"), "expires_at": True},
    "a fractional expiry": {**clients("x"), "expires_at": 1.5},
    "a score ZADD refuses": {"kind": "client_index", "key": "idx:client:web", "type": "zset",
                             "expires_at": None, "value": [["g", "1_000"]]},
    "a score Redis overflows": {"kind": "client_index", "key": "idx:client:web",
                                "type": "zset", "expires_at": None, "value": [["g", "1e400"]]},
    "a score Redis underflows": {"kind": "client_index", "key": "idx:client:web",
                                 "type": "zset", "expires_at": None, "value": [["g", "1e-400"]]},
    "an expiry PEXPIREAT refuses": {**clients("x"), "expires_at": 2**70},
    "a kind that is never moved": {"kind": "cache_generation", "key": "cache:generation",
                                   "type": "string", "expires_at": None, "value": "x"},
    "a score that is NaN": {"kind": "client_index", "key": "idx:client:web", "type": "zset",
                            "expires_at": None, "value": [["g", "nan"]]},
}


@pytest.mark.parametrize("bad", BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
async def test_a_malformed_line_is_refused_by_number_after_the_lines_before_it(
        store: TokenStore, bad: object) -> None:
    line = bad if isinstance(bad, str) else json.dumps(bad)
    text = joined([HEADER, clients("before")]) + line + "\n" + joined([clients("after")])
    with pytest.raises(BadLine, match=r"^line 3: .*\(1 records before it imported\)") as caught:
        await imported(store, text)
    assert caught.value.number == 3
    assert await redis_of(store).smembers("om:clients:{registry}") == {b"before"}
    assert await redis_of(store).keys("om:client:*") == []
    assert await redis_of(store).exists("om:idx:client:web") == 0


@pytest.mark.parametrize(("header", "fragment"), [
    ({**HEADER, "version": 2}, "format version 2; this version reads version 1 only"),
    ({**HEADER, "format": "redis-dump"}, "not an oauth-middleware export"),
    ({**HEADER, "counts": {"everything": 1}}, "\"counts\" must map kinds"),
    ({**HEADER, "exported_at": "yesterday"}, "needs a \"prefix\" and an \"exported_at\""),
])
async def test_a_file_of_another_format_or_version_is_refused_before_anything_is_written(
        store: TokenStore, header: dict[str, Any], fragment: str) -> None:
    with pytest.raises(BadLine, match=r"^line 1: ") as caught:
        await imported(store, joined([header, clients("a")]))
    assert fragment in str(caught.value)
    assert await redis_of(store).dbsize() == 0


async def test_a_file_cut_short_is_reported_after_its_whole_lines_are_imported(
        store: TokenStore) -> None:
    text = joined([HEADER, clients("a"), clients("b")]) + json.dumps(clients("c"))[:20]
    with pytest.raises(BadLine, match=r"^line 4: not a JSON object \(2 records"):
        await imported(store, text)
    with pytest.raises(BadLine, match="the header counts 3 records, the file has 2"):
        await imported(store, joined([HEADER, clients("a"), clients("b")]), "skip")
    assert await redis_of(store).smembers("om:clients:{registry}") == {b"a", b"b"}


async def test_a_line_longer_than_the_limit_is_refused_and_nothing_of_it_written(
        store: TokenStore) -> None:
    big = {**clients("x"), "value": ["m" * 5000]}
    with pytest.raises(BadLine, match=r"^line 2: longer than 4096 bytes"):
        await imported(store, joined([HEADER, big, clients("a")]), max_line=4096)
    assert await redis_of(store).dbsize() == 0


async def test_control_characters_odd_bytes_and_huge_values_round_trip_exactly(
        store: TokenStore) -> None:
    title = "\x1b]0;pwned\x07\u2028\u202e\x00" + "t" * 1_000_000
    scope = json.dumps({"identifier": "odd", "title": title, "enabled": True, "v": 1}).encode()
    await redis_of(store).hset(store.keys.scopes, "odd", scope)
    await redis_of(store).set(store.keys.client("odd"), b"\xff\xfe\x80{\x00")  # not UTF-8
    scores = {b"never": float("inf"), b"neg": -3.0, b"tiny": 1e-7, b"big": 1.5e20}
    await redis_of(store).zadd(store.keys.client_index("web"), scores)
    members = {f"m{i}".encode() for i in range(5000)}  # more than Lua's unpack takes at once
    await redis_of(store).sadd(store.keys.clients, *members)
    text = await exported(store)
    assert text.isascii() and len(text.splitlines()) == 5  # every control char escaped
    await redis_of(store).flushdb()

    moved = await imported(store, text)
    assert moved.outcomes == {"written": 4}
    ranked = await redis_of(store).zrange(store.keys.client_index("web"), 0, -1, withscores=True)
    assert dict(cast(list[tuple[bytes, float]], ranked)) == scores
    assert await redis_of(store).hgetall(store.keys.scopes) == {b"odd": scope}
    assert await redis_of(store).get(store.keys.client("odd")) == b"\xff\xfe\x80{\x00"
    assert await redis_of(store).smembers(store.keys.clients) == members
    registry = await store.list_scopes()
    assert [s.title for s in registry if s.identifier == "odd"] == [title]


async def test_keys_the_schema_does_not_know_are_reported_not_exported(store: TokenStore) -> None:
    from oauth_middleware.store._transfer import export, unknown_keys

    await redis_of(store).set("om:mystery", b"1")
    await redis_of(store).set("om:clients:{registry}", b"a string where a set belongs")
    await redis_of(store).set("other:client:x", b"{}")  # another prefix: not ours to report
    await redis_of(store).sadd("om:client:{web}", b"a set where a string belongs")
    found = sorted([key async for key in unknown_keys(store)])
    assert found == ["om:client:{web}", "om:clients:{registry}", "om:mystery"]

    reported: list[str] = []
    out = io.StringIO()
    header = await export(store, out, on_unknown=reported.append)
    assert sorted(reported) == found
    assert header.records == 0 and header.unknown == 3
    assert lines(out.getvalue())[0]["unknown"] == 3 and len(lines(out.getvalue())) == 1


async def test_blank_lines_and_crlf_endings_are_read(store: TokenStore) -> None:
    text = joined([HEADER, clients("a"), clients("b")]).replace("\n", "\r\n")
    moved = await imported(store, text[:-2] + "\n\n  \r\n" + joined([clients("c")]))
    assert moved.records == 3
    assert await redis_of(store).smembers("om:clients:{registry}") == {b"a", b"b", b"c"}


async def test_a_key_gone_between_scan_and_read_is_left_out_not_reported(
        store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from oauth_middleware.store._transfer import export

    await redis_of(store).sadd("om:clients:{registry}", b"a")
    await redis_of(store).set("om:client:{a}", b"{}")
    scan = gateway(store).scan

    async def scan_then_revoke(*args: Any, **kwargs: Any) -> Any:
        reply = await scan(*args, **kwargs)
        await redis_of(store).delete("om:client:{a}")  # deleted after SCAN listed it
        return reply

    monkeypatch.setattr(gateway(store), "scan", scan_then_revoke)
    reported: list[str] = []
    out = io.StringIO()
    header = await export(store, out, on_unknown=reported.append)
    assert header.counts == {"clients": 1} and reported == []
    assert "client:{a}" not in out.getvalue()


async def test_an_error_quotes_a_huge_key_cut_short(store: TokenStore) -> None:
    bad = {**clients("x"), "kind": "client", "type": "string", "key": "k" * 100_000, "value": ""}
    with pytest.raises(BadLine) as caught:
        await imported(store, joined([HEADER, bad]))
    assert len(str(caught.value)) < 200 and "kkk..." in str(caught.value)
