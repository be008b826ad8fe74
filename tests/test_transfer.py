"""Export and import of the store's data (issue 13 §4): real flows in, the same behaviour out."""

from __future__ import annotations

import json
from typing import cast

import pytest

from oauth_middleware.security import digest
from oauth_middleware.store import TokenStore, _transfer, _transfer_write
from oauth_middleware.store._records import FORMAT, VERSION
from oauth_middleware.store._transfer_write import copy
from tests.server.token_harness import TOKEN_PATH, basic, build_app, code_form, http
from tests.server.token_harness import assert_error as assert_oauth_error
from tests.store_helpers import gateway, redis_of
from tests.transfer_harness import (
    access_key,
    exported,
    imported,
    joined,
    lines,
    run_flows,
)


@pytest.mark.rule("rest.no-raw-secrets", "rest.export-digests-only")
async def test_an_export_holds_digests_and_no_raw_token_code_or_secret(store: TokenStore) -> None:
    issued = await run_flows(store)
    text = await exported(store)
    for value in issued.raw_values():
        assert value not in text
        secret_parts = [part for part in value.split(".") if len(part) >= 40]
        assert secret_parts and not any(part in text for part in secret_parts)
    assert digest(issued.current["access_token"]) in text  # what the store keeps is there
    assert text.isascii()


@pytest.mark.rule("rest.export-digests-only")
async def test_a_token_revoked_before_the_export_is_absent_and_stays_dead(
        store: TokenStore) -> None:
    issued = await run_flows(store)
    text = await exported(store)
    revoked_grant = issued.revoked["access_token"].partition(".")[0]
    assert revoked_grant not in text  # no token, code, member set or index entry of it
    assert digest(issued.revoked["access_token"]) not in text
    await redis_of(store).flushdb()
    await imported(store, text)
    assert await store.resolve(issued.revoked["access_token"]) is None
    assert await store.resolve(issued.current["access_token"]) is not None


async def test_the_header_names_format_version_prefix_time_and_counts(store: TokenStore) -> None:
    await run_flows(store)
    seconds, micros = await redis_of(store).time()
    header, *records = lines(await exported(store))
    assert header["format"] == FORMAT and header["version"] == VERSION
    assert header["prefix"] == "om:"
    assert abs(header["exported_at"] - (seconds * 1000 + micros // 1000)) < 5000
    kinds = [r["kind"] for r in records]
    assert header["counts"] == {kind: kinds.count(kind) for kind in set(kinds)}
    assert header["records"] == len(records)
    assert {"client", "clients", "scopes", "access_token", "refresh_token", "code",
            "grant_members", "user_index", "client_index", "own_index"} <= set(kinds)


async def test_round_trip_keeps_scopes_remaining_lifetimes_rotation_and_replay_revocation(
        store: TokenStore) -> None:
    issued = await run_flows(store)
    current_key = access_key(store, issued.current["access_token"])
    pttl_before = await redis_of(store).pttl(current_key)
    text = await exported(store)
    await redis_of(store).flushdb()
    moved = await imported(store, text)
    assert moved.outcomes == {"written": moved.records} and moved.records == len(lines(text)) - 1

    current = await store.resolve(issued.current["access_token"])
    machine = await store.resolve(issued.machine["access_token"])
    assert current is not None and current.scopes == {"read", "write"}
    assert current.subject == "alice" and current.client_id == "web"
    assert machine is not None and machine.scopes == {"read"} and machine.subject_type == "client"
    pttl_after = await redis_of(store).pttl(current_key)
    assert pttl_before - 5000 < pttl_after <= pttl_before  # kept, never extended

    auth = basic(issued.client_id, issued.secret)
    async with http(build_app(store)) as client:
        rotate = {"grant_type": "refresh_token", "refresh_token": issued.current["refresh_token"]}
        answer = await client.post(TOKEN_PATH, data=rotate, headers=auth)
        assert answer.status_code == 200, answer.text
        renewed = answer.json()
        assert set(renewed["scope"].split()) == {"read", "write"}
        again = await client.post(TOKEN_PATH, data=rotate, headers=auth)  # a replay
        assert_oauth_error(again, 400, "invalid_grant")
        replay = await client.post(TOKEN_PATH, data=code_form(issued.code), headers=auth)
        assert_oauth_error(replay, 400, "invalid_grant")
    assert await store.resolve(renewed["access_token"]) is None  # the family is revoked
    assert await store.resolve(issued.machine["access_token"]) is not None



async def test_a_file_imported_later_gives_no_longer_life_and_skips_what_expired(
        store: TokenStore) -> None:
    issued = await run_flows(store)
    current_key = access_key(store, issued.current["access_token"])
    pttl_before = await redis_of(store).pttl(current_key)
    header, *records = lines(await exported(store))
    age = 121_000  # the file was made this long ago (ms): past a code's 120 s
    for row in [header, *records]:
        for field in ("exported_at", "expires_at"):
            if row.get(field) is not None:
                row[field] -= age
    seconds, micros = await redis_of(store).time()
    now = seconds * 1000 + micros // 1000
    dead = sum(1 for r in records if r["expires_at"] is not None and r["expires_at"] <= now)
    await redis_of(store).flushdb()

    moved = await imported(store, joined([header, *records]))
    assert dead >= 1 and moved.outcomes["expired"] == dead
    assert moved.outcomes["written"] == len(records) - dead
    code_keys = [k async for k in redis_of(store).scan_iter(match="om:code:*")]
    assert code_keys == []  # expired by import time: not written at all
    pttl_after = await redis_of(store).pttl(current_key)
    assert pttl_before - age - 5000 < pttl_after <= pttl_before - age
    assert await store.resolve(issued.current["access_token"]) is not None


async def test_an_index_merged_into_a_live_one_keeps_the_later_expiry_and_both_members(
        store: TokenStore) -> None:
    issued = await run_flows(store)
    text = await exported(store)
    index = store.keys.client_index("web")
    grants = set(await redis_of(store).zrange(index, 0, -1))
    await redis_of(store).delete(index)
    await redis_of(store).zadd(index, {"live-grant": 1})
    await redis_of(store).pexpire(index, 60_000)
    client_key = store.keys.client("web")
    await redis_of(store).set(client_key, b'{"edited": true}')

    moved = await imported(store, text, "skip")
    assert moved.outcomes["written"] == 0 and moved.outcomes["kept"] >= 1
    assert set(await redis_of(store).zrange(index, 0, -1)) == grants | {b"live-grant"}
    assert await redis_of(store).pttl(index) > 60_000  # the file's entries live longer
    assert await redis_of(store).get(client_key) == b'{"edited": true}'  # skip: the target's stays

    await imported(store, text, "replace")
    assert await redis_of(store).get(client_key) != b'{"edited": true}'  # replace: the file's wins
    assert await store.get_client("web") is not None
    assert await store.resolve(issued.current["access_token"]) is not None


async def test_import_into_a_store_holding_keys_needs_a_merge_mode(store: TokenStore) -> None:
    await run_flows(store)
    text = await exported(store)
    await redis_of(store).set(store.keys.client("web"), b"{}")
    with pytest.raises(ValueError, match=r"--skip-existing .* --replace"):
        await imported(store, text)
    assert await redis_of(store).get(store.keys.client("web")) == b"{}"


async def test_a_prefix_change_renames_keys_and_the_keys_a_grant_lists(store: TokenStore) -> None:
    issued = await run_flows(store)
    text = await exported(store)
    await redis_of(store).flushdb()
    other = TokenStore(gateway(store), prefix="bk:", clock=store.clock)
    with pytest.raises(ValueError, match="--prefix-from 'om:'"):
        await imported(other, text)
    assert await redis_of(store).dbsize() == 0

    await imported(other, text, prefix_from="om:")
    assert [k async for k in redis_of(store).scan_iter(match="om:*")] == []
    grant = issued.current["access_token"].partition(".")[0]
    members = await redis_of(store).smembers(other.keys.members(grant))
    assert members and all(m.startswith(b"bk:") for m in cast(set[bytes], members))
    record = await other.resolve(issued.current["access_token"])
    assert record is not None and record.scopes == {"read", "write"}
    assert await other.revoke_grant(grant) >= 2  # its member set names the renamed keys
    assert await other.resolve(issued.current["access_token"]) is None


@pytest.mark.rule("rest.export-digests-only")
async def test_a_grant_revoked_while_the_export_runs_is_left_out(
        store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = await run_flows(store)
    grant = issued.current["access_token"].partition(".")[0]
    check = _transfer.present

    async def revoke_then_check(target: TokenStore, keys: list[str]) -> list[bool]:
        await store.revoke_grant(grant)  # after every key was read, before the check
        return await check(target, keys)

    monkeypatch.setattr(_transfer, "present", revoke_then_check)
    header, *records = lines(await exported(store))
    assert not any(grant in row["key"] for row in records)
    assert digest(issued.current["access_token"]) not in json.dumps(records)
    assert header["records"] == len(records) >= 5  # the rest is there, counted
    assert header["counts"]["access_token"] == 1  # the machine token's


async def test_copy_into_an_empty_store_prunes_a_grant_revoked_while_it_ran(
        store: TokenStore, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = await run_flows(store)
    grant = issued.current["access_token"].partition(".")[0]
    target = TokenStore.from_url(None)  # another Redis (and, on the redis run, another kind)
    check = _transfer.present

    async def revoke_then_check(source: TokenStore, keys: list[str]) -> list[bool]:
        await store.revoke_grant(grant)  # after its keys were copied
        return await check(source, keys)

    monkeypatch.setattr(_transfer_write, "present", revoke_then_check)
    moved = await copy(store, target, mode="empty", on_unknown=pytest.fail)
    assert moved.outcomes["pruned"] >= 4  # two access tokens, the refresh record, the code...
    assert await target.resolve(issued.current["access_token"]) is None
    machine = await target.resolve(issued.machine["access_token"])
    assert machine is not None and machine.scopes == {"read"}
    assert [k async for k in redis_of(target).scan_iter(match=f"*{grant}*")] == []
    await target.aclose()


async def test_after_a_restore_a_refresh_made_since_the_export_ends_its_grant(
        store: TokenStore) -> None:
    issued = await run_flows(store)
    text = await exported(store)
    auth = basic(issued.client_id, issued.secret)
    rotate = {"grant_type": "refresh_token", "refresh_token": issued.current["refresh_token"]}
    async with http(build_app(store)) as client:
        newer = (await client.post(TOKEN_PATH, data=rotate, headers=auth)).json()
        await redis_of(store).flushdb()
        await imported(store, text)  # the store as it was before that refresh
        answer = await client.post(TOKEN_PATH, headers=auth, data={
            "grant_type": "refresh_token", "refresh_token": newer["refresh_token"]})
        assert_oauth_error(answer, 400, "invalid_grant")
        again = await client.post(TOKEN_PATH, data=rotate, headers=auth)
        assert_oauth_error(again, 400, "invalid_grant")  # taken for a replay: the grant ended
    assert await store.resolve(issued.current["access_token"]) is None
    assert await store.resolve(issued.machine["access_token"]) is not None
