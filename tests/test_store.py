"""TokenStore against fakeredis and a real redis-server: records, TTLs, atomicity, hygiene."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.crc import key_slot

from oauth_middleware.models import (
    AccessToken,
    AuthorizationCode,
    Client,
    PendingAuthorization,
    Scope,
)
from oauth_middleware.security import digest, grant_id_of, hash_client_secret
from oauth_middleware.store import MAX_LIFETIME, NewTokens, TokenStore
from oauth_middleware.store._codec import dump, dump_access, load, load_access
from tests.conftest import FakeClock
from tests.store_helpers import (
    clear_failures,
    count_failure,
    failures,
    get_code,
    get_pending,
    get_refresh,
    redis_of,
    texts,
)


def _spec(**kw: object) -> NewTokens:
    base: dict[str, object] = {"client_id": "web", "subject": "alice",
                               "scopes": frozenset({"polls:vote", "polls:results"})}
    base.update(kw)
    return NewTokens(**base)  # type: ignore[arg-type]


def _code(**kw: object) -> AuthorizationCode:
    base: dict[str, object] = {"grant_id": "", "client_id": "web", "subject": "alice",
                               "redirect_uri": "https://app.example/cb",
                               "scopes": frozenset({"polls:vote"})}
    base.update(kw)
    return AuthorizationCode(**base)  # type: ignore[arg-type]


async def _all_keys_and_values(store: TokenStore) -> bytes:
    dump_bytes = b""
    async for key in redis_of(store).scan_iter(match="*"):
        kind = texts([await redis_of(store).type(key)])[0]
        value: object = {
            "string": redis_of(store).get, "set": redis_of(store).smembers,
            "zset": lambda k: redis_of(store).zrange(k, 0, -1), "hash": redis_of(store).hgetall,
        }[kind](key)
        dump_bytes += key + b"=" + repr(await value).encode() + b"\n"  # type: ignore[misc]
    return dump_bytes


async def test_issued_token_resolves_to_its_record(store: TokenStore) -> None:
    issued = await store.issue(_spec())
    record = await store.resolve(issued.access_token)
    assert record == issued.token
    assert record is not None and record.subject == "alice" and record.client_id == "web"
    assert record.scopes == {"polls:vote", "polls:results"}


@pytest.mark.rule("resource.invalid-token")
async def test_unknown_and_malformed_tokens_resolve_to_none(store: TokenStore) -> None:
    issued = await store.issue(_spec())
    grant_id = issued.token.grant_id
    assert await store.resolve(f"{grant_id}.{'A' * 43}") is None
    assert await store.resolve("not-a-token") is None
    assert await store.resolve("") is None


async def test_token_key_ttl_is_the_lifetime(store: TokenStore) -> None:
    issued = await store.issue(_spec(lifetime=600, refresh=True, refresh_lifetime=3600))
    gid = issued.token.grant_id
    at_ttl = await redis_of(store).pttl(store.keys.access(gid, digest(issued.access_token)))
    assert issued.refresh_token is not None
    rt_ttl = await redis_of(store).pttl(store.keys.refresh(gid))
    assert 595_000 < at_ttl <= 600_000
    assert 3_595_000 < rt_ttl <= 3_600_000
    assert await redis_of(store).pttl(store.keys.members(gid)) > 3_595_000


async def test_never_expiring_token_has_no_ttl(store: TokenStore) -> None:
    issued = await store.issue(_spec(lifetime=None))
    key = store.keys.access(issued.token.grant_id, digest(issued.access_token))
    assert await redis_of(store).pttl(key) == -1
    assert issued.token.expires_at is None
    assert "expires_in" not in issued.to_response(0)


@pytest.mark.rule("resource.invalid-token")
async def test_expired_token_no_longer_resolves(store: TokenStore, clock: FakeClock) -> None:
    issued = await store.issue(_spec(lifetime=60))
    clock.advance(59)
    assert await store.resolve(issued.access_token) is not None
    clock.advance(1)
    assert await store.resolve(issued.access_token) is None


@pytest.mark.not_on_cluster  # counts the raw client's commands; a cluster's go by node
async def test_resolve_is_exactly_one_round_trip(store: TokenStore, backend: str) -> None:
    """Alone, a lookup is one GET; lookups made together share one MGET (see test_batch)."""
    issued = await store.issue(_spec())
    calls: list[tuple[object, ...]] = []
    original: Any = redis_of(store).execute_command

    async def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return await original(*args, **kwargs)

    redis_of(store).execute_command = counting  # type: ignore[method-assign]
    try:
        assert await store.resolve(issued.access_token) is not None
        assert await store.resolve("no-such.token") is None
    finally:
        redis_of(store).execute_command = original  # type: ignore[method-assign]
    assert [c[0] for c in calls] == ["GET"]


@pytest.mark.rule("rest.no-raw-secrets")
async def test_redis_holds_no_raw_token_code_or_secret(store: TokenStore) -> None:
    issued = await store.issue(_spec(refresh=True))
    code = await store.create_code(_code())
    secret = "s3cr3t-" + "x" * 40
    await store.save_client(Client(client_id="web", title="Web", public=False,
                                   secret_hash=hash_client_secret(secret)))
    txn = await store.consent.put_pending(PendingAuthorization(
        user="alice", client_id="web", response_type="code", redirect_uri="https://a/cb",
        redirect_uri_explicit=True, scopes=("polls:vote",)))
    everything = await _all_keys_and_values(store)
    assert issued.refresh_token is not None
    for raw in (issued.access_token, issued.refresh_token, code, secret, txn):
        secret_part = raw.split(".")[-1].encode()
        assert secret_part not in everything
    assert digest(issued.access_token).encode() in everything  # stored under its digest


async def test_keys_of_one_grant_share_a_cluster_slot(store: TokenStore) -> None:
    code = await store.create_code(_code())
    record = await get_code(store, code)
    assert record is not None
    issued = await store.redeem_code(code, record, _spec(refresh=True))
    assert issued is not None and issued.refresh_token is not None
    gid = record.grant_id
    keys = [store.keys.members(gid), store.keys.code(gid, digest(code)),
            store.keys.access(gid, digest(issued.access_token)),
            store.keys.refresh(gid)]
    assert len({key_slot(k.encode()) for k in keys}) == 1
    members = set(texts(list(await redis_of(store).smembers(store.keys.members(gid)))))
    assert members == set(keys[1:])


@pytest.mark.rule("token.code.single-use", "token.code.replay-revokes")
async def test_code_redeems_once_and_replay_revokes_its_tokens(store: TokenStore) -> None:
    code = await store.create_code(_code())
    record = await get_code(store, code)
    assert record is not None and not record.used
    first = await store.redeem_code(code, record, _spec(refresh=True))
    assert first is not None
    assert await store.resolve(first.access_token) is not None
    again = await get_code(store, code)
    assert again is not None and again.used
    assert await store.redeem_code(code, record, _spec(refresh=True)) is None
    assert await store.resolve(first.access_token) is None
    assert first.refresh_token is not None
    assert await get_refresh(store, first.refresh_token) is None


@pytest.mark.rule("token.code.single-use")
async def test_concurrent_code_redemptions_have_exactly_one_winner(store: TokenStore) -> None:
    code = await store.create_code(_code())
    record = await get_code(store, code)
    assert record is not None
    results = await asyncio.gather(*(store.redeem_code(code, record, _spec()) for _ in range(20)))
    assert sum(r is not None for r in results) == 1


@pytest.mark.rule("token.code.random-ttl")
async def test_code_lifetime_is_capped_at_ten_minutes(store: TokenStore, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="1 to 600"):
        await store.create_code(_code(), lifetime=601)
    code = await store.create_code(_code(), lifetime=600)
    record = await get_code(store, code)
    assert record is not None and record.expires_at - record.issued_at == 600
    assert 0 < await redis_of(store).pttl(store.keys.code(record.grant_id, digest(code))) <= 600_000
    clock.advance(600)
    assert await get_code(store, code) is None


async def _everything(store: TokenStore) -> list[tuple[Any, Any]]:
    redis = redis_of(store)
    return [(key, await redis.dump(key)) for key in sorted(await redis.keys("*"))]


@pytest.mark.parametrize("spec", [
    {"lifetime": MAX_LIFETIME + 1},
    {"lifetime": 10**20},
    {"lifetime": 0},
    {"refresh": True, "refresh_lifetime": 10**20},
])
async def test_issue_refuses_a_lifetime_past_max_lifetime_and_writes_nothing(
    store: TokenStore, spec: dict[str, object]
) -> None:
    await store.issue(_spec())
    code = await store.create_code(_code())
    record = await get_code(store, code)
    assert record is not None
    before = await _everything(store)
    with pytest.raises(ValueError, match=f"up to {MAX_LIFETIME} \\(ten years\\)"):
        await store.issue(_spec(**spec))
    with pytest.raises(ValueError, match="ten years"):
        await store.redeem_code(code, record, _spec(**spec))
    assert await _everything(store) == before  # the code is still unused, nothing was written
    longest = await store.issue(_spec(lifetime=MAX_LIFETIME, refresh=True,
                                      refresh_lifetime=MAX_LIFETIME))
    assert longest.token.expires_at == longest.token.issued_at + MAX_LIFETIME


async def test_an_index_holding_a_float_expiry_does_not_fail_later_grants(
    store: TokenStore,
) -> None:
    """An index score of 1e+23 (what an unbounded lifetime wrote before MAX_LIFETIME) made
    INDEX_ADD hand PEXPIREAT a float that Redis refuses, failing every later grant of that
    user and client. The script now writes whole milliseconds, at most "never"."""
    for index in (store.keys.client_index("web"), store.keys.user_index("alice")):
        await redis_of(store).zadd(index, {"oldgrant": 1e23})
    issued = await store.issue(_spec())
    assert await store.resolve(issued.access_token) == issued.token
    for index in (store.keys.client_index("web"), store.keys.user_index("alice")):
        assert await redis_of(store).pttl(index) > 0
        assert await redis_of(store).zscore(index, issued.token.grant_id) is not None
    assert await store.revoke_client_tokens("web") >= 1
    assert await store.resolve(issued.access_token) is None


@pytest.mark.rule("token.refresh.rotation")
async def test_refresh_rotation_retires_old_token(store: TokenStore) -> None:
    issued = await store.issue(_spec(refresh=True))
    assert issued.refresh_token is not None
    record = await get_refresh(store, issued.refresh_token)
    assert record is not None
    narrowed = _spec(refresh=True, scopes=frozenset({"polls:vote"}), grant_scopes=record.scopes)
    new = await store.rotate_refresh(issued.refresh_token, record, narrowed)
    assert new is not None and new.refresh_token is not None
    assert new.token.grant_id == issued.token.grant_id
    assert new.token.scopes == {"polls:vote"}
    new_record = await get_refresh(store, new.refresh_token)
    assert new_record is not None and new_record.scopes == {"polls:vote", "polls:results"}
    old = await get_refresh(store, issued.refresh_token)
    assert old is not None and old.rotated
    assert await store.lookup(issued.refresh_token) is None


@pytest.mark.rule("token.refresh.reuse-revokes-family")
async def test_reusing_a_rotated_refresh_token_revokes_the_family(store: TokenStore) -> None:
    issued = await store.issue(_spec(refresh=True))
    assert issued.refresh_token is not None
    record = await get_refresh(store, issued.refresh_token)
    assert record is not None
    new = await store.rotate_refresh(issued.refresh_token, record, _spec(refresh=True))
    assert new is not None and new.refresh_token is not None
    assert await store.rotate_refresh(issued.refresh_token, record, _spec(refresh=True)) is None
    assert await store.resolve(new.access_token) is None
    assert await get_refresh(store, new.refresh_token) is None


@pytest.mark.rule("token.refresh.concurrent")
async def test_concurrent_refreshes_have_exactly_one_winner(store: TokenStore) -> None:
    issued = await store.issue(_spec(refresh=True))
    assert issued.refresh_token is not None
    record = await get_refresh(store, issued.refresh_token)
    assert record is not None
    results = await asyncio.gather(
        *(store.rotate_refresh(issued.refresh_token, record, _spec(refresh=True))
          for _ in range(20))
    )
    assert sum(r is not None for r in results) == 1


async def test_revoking_an_access_token_leaves_its_refresh_token(store: TokenStore) -> None:
    issued = await store.issue(_spec(refresh=True))
    assert await store.revoke_token(issued.access_token)
    assert await store.resolve(issued.access_token) is None
    assert issued.refresh_token is not None
    assert await store.lookup(issued.refresh_token) is not None
    assert not await store.revoke_token(issued.access_token)


@pytest.mark.rule("revoke.refresh-revokes-grant")
async def test_revoking_a_refresh_token_revokes_its_grant(store: TokenStore) -> None:
    issued = await store.issue(_spec(refresh=True))
    assert issued.refresh_token is not None
    assert await store.revoke_token(issued.refresh_token)
    assert await store.resolve(issued.access_token) is None
    assert await redis_of(store).exists(store.keys.members(issued.token.grant_id)) == 0


async def test_revoke_user_and_client_reach_every_grant(store: TokenStore) -> None:
    alice = [await store.issue(_spec()) for _ in range(3)]
    bob = await store.issue(_spec(subject="bob", client_id="other"))
    machine = await store.issue(_spec(subject="other", subject_type="client", client_id="other"))
    assert await store.revoke_user("alice") == 3
    assert all([await store.resolve(t.access_token) is None for t in alice])
    assert await store.resolve(bob.access_token) is not None
    assert await store.revoke_client_tokens("other") == 2
    assert await store.resolve(bob.access_token) is None
    assert await store.resolve(machine.access_token) is None


@pytest.mark.rule("token.client-credentials")
async def test_client_subject_never_collides_with_a_user(store: TokenStore) -> None:
    machine = await store.issue(_spec(subject="alice", subject_type="client", client_id="alice"))
    assert machine.token.user is None
    assert await store.revoke_user("alice") == 0
    assert await store.resolve(machine.access_token) is not None


async def test_list_tokens_pages_by_client_user_and_all(store: TokenStore) -> None:
    issued = [await store.issue(_spec(subject=f"user{i % 2}")) for i in range(6)]
    await store.issue(_spec(client_id="other"))
    _, by_user = await store.list_tokens(user="user0")
    assert {t.fingerprint for t in by_user} == {t.token.fingerprint for t in issued[::2]}
    _, by_client = await store.list_tokens(client_id="web")
    assert len(by_client) == 6
    seen, cursor = [], 0
    while True:
        cursor, page = await store.list_tokens(cursor=cursor, count=2)
        seen += page
        if cursor == 0:
            break
    assert len({t.fingerprint for t in seen}) == 7


async def test_revoke_access_by_fingerprint(store: TokenStore) -> None:
    issued = await store.issue(_spec())
    assert await store.revoke_access(issued.token.grant_id, issued.token.fingerprint)
    assert await store.resolve(issued.access_token) is None


async def test_clients_and_scopes_round_trip(store: TokenStore) -> None:
    client = Client(client_id="web", title="Web", redirect_uris=("https://a/cb",), public=False,
                    secret_hash=hash_client_secret("x" * 43), scopes=("polls:vote",),
                    grant_types=("authorization_code", "client_credentials"), token_lifetime=None)
    await store.save_client(client)
    assert await store.get_client("web") == client
    assert "secret_hash" not in repr(client)
    await store.save_scope(Scope("polls:vote", "Vote", enabled=False))
    assert await store.get_scopes(["polls:vote", "nope"]) == {
        "polls:vote": Scope("polls:vote", "Vote", False)}
    assert [s.identifier for s in await store.list_scopes()] == ["polls:vote"]
    cursor, clients = await store.list_clients()
    assert cursor == 0 and clients == [client]
    assert await store.delete_client("web") and await store.get_client("web") is None
    assert await store.delete_scope("polls:vote") and await store.list_scopes() == []


@pytest.mark.rule("auth.csrf.transaction")
async def test_pending_authorization_is_taken_once(store: TokenStore) -> None:
    pending = PendingAuthorization(user="alice", client_id="web", response_type="code",
                                   redirect_uri="https://a/cb", redirect_uri_explicit=False,
                                   scopes=("a", "b"), state="xyz")
    txn = await store.consent.put_pending(pending, lifetime=60)
    assert len(txn) >= 43
    assert await get_pending(store, txn, user="alice") == pending
    assert 0 < await redis_of(store).ttl(store.keys.pending("alice", digest(txn))) <= 60
    take = store.consent.take_pending
    results = await asyncio.gather(*(take(txn, user="alice") for _ in range(5)))
    assert results.count(pending) == 1
    assert await get_pending(store, txn, user="alice") is None


@pytest.mark.rule("abuse.throttle")
async def test_failure_counter_counts_within_a_window(store: TokenStore) -> None:
    assert await failures(store, "client", "web") == (0, 0)
    for expected in (1, 2, 3):
        count, retry_after = await count_failure(store, "client", "web", window=60)
        assert count == expected and 0 < retry_after <= 60
    assert (await failures(store, "client", "web"))[0] == 3
    await clear_failures(store, "client", "web")
    assert await failures(store, "client", "web") == (0, 0)


@pytest.mark.rule("redis.resume")
async def test_scripts_are_reloaded_after_redis_forgets_them(store: TokenStore) -> None:
    await store.issue(_spec())
    await redis_of(store).script_flush()
    issued = await store.issue(_spec())
    assert await store.resolve(issued.access_token) is not None


def test_codec_round_trip_is_byte_identical() -> None:
    code = _code(grant_id="g" * 22, issued_at=1.5, expires_at=121.5, fingerprint="ab",
                 code_challenge="c" * 43, code_challenge_method="S256")
    raw = dump(code)
    assert dump(load(AuthorizationCode, raw)) == raw
    assert load(AuthorizationCode, raw) == code
    assert dump(replace(code, used=True)) != raw


_texts = st.text(max_size=12)
_times = st.one_of(st.none(), st.integers(-10**12, 10**12),
                   st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=300, deadline=None)
@given(grant_id=_texts, client_id=_texts, subject=_texts, scopes=st.frozensets(_texts),
       issued_at=_times, expires_at=_times, fingerprint=_texts)
def test_the_spelled_out_access_record_encoding_writes_the_generic_bytes(
    grant_id: str, client_id: str, subject: str, scopes: frozenset[str],
    issued_at: Any, expires_at: Any, fingerprint: str,
) -> None:
    record = AccessToken(grant_id=grant_id, client_id=client_id, subject=subject,
                         subject_type="client", scopes=scopes, issued_at=issued_at,
                         expires_at=expires_at, fingerprint=fingerprint)
    assert dump_access(record) == dump(record)


def test_an_access_record_keeps_its_audience_and_an_empty_one_leaves_the_bytes_as_before(
) -> None:
    plain = AccessToken(grant_id="g", client_id="c", subject="u", scopes=frozenset({"a"}))
    bound = replace(plain, audience=frozenset({"https://b.example/mcp", "https://a.example"}))
    assert "audience" not in dump_access(plain) and dump_access(plain) == dump(plain)
    assert dump_access(bound) == dump(bound)
    assert '"audience":"https://a.example https://b.example/mcp"' in dump_access(bound)
    assert load_access(dump_access(bound).encode()) == bound
    assert load_access(dump_access(plain).encode()) == plain
    assert load(AccessToken, dump(bound)) == bound


def test_grant_id_is_the_public_half_of_a_token() -> None:
    assert grant_id_of("a" * 22 + "." + "b" * 43) == "a" * 22
    assert grant_id_of("a" * 22) is None
    assert grant_id_of("a" * 22 + "." + "b" * 43 + "\n") is None


def test_store_rejects_prefix_with_hash_tag() -> None:
    with pytest.raises(ValueError, match="prefix"):
        TokenStore.from_url(None, prefix="{om}:")


async def _live_grants(store: TokenStore, user: str) -> int:
    return int(await redis_of(store).zcard(store.keys.user_index(user)))


@pytest.mark.rule("abuse.bounded.grants-per-user")
async def test_a_loop_of_grants_for_one_user_stops_growing_her_live_grants(
    store: TokenStore,
) -> None:
    """Anyone with an account can loop a public client's code + PKCE flow as himself
    (GET auth/, approve, redeem: no secret needed), or a first-party app the password
    grant: each round stores a grant with a refresh token that lives 30 days."""
    spec = NewTokens(client_id="spa", subject="mallory", scopes=frozenset({"read"}),
                     refresh=True)
    for _ in range(400):
        await store.issue(spec)
    after_400 = await _live_grants(store, "mallory")
    for _ in range(400):
        await store.issue(spec)
    assert after_400 < 400
    assert await _live_grants(store, "mallory") == after_400
