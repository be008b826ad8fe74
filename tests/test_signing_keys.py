"""The store-backed key ring (oauth_middleware.keyring.StoreKeys), on both store backends.

Every worker is a ring of its own over one store: what one makes, rotates or retires,
the others read. Time is the ``clock`` fixture (the store's), never a sleep.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest
from joserfc.jwk import ECKey, RSAKey

from oauth_middleware.keyring import PRIVATE_MEMBERS, KeyRingError, StoreKeys
from oauth_middleware.keyring._stored import LEEWAY, MAX_TOKEN_LIFETIME, REFRESH_EVERY
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.store import MAX_SIGNING_KEYS, SealedKey, TokenStore
from tests.conftest import FakeClock
from tests.store_helpers import redis_of

SECRET = b"s" * 32
#: How long a rotated-out key stays published with the default settings.
PUBLISHED_FOR = MAX_TOKEN_LIFETIME + REFRESH_EVERY + LEEWAY


async def stored(store: TokenStore) -> dict[str, Any]:
    """Every signing hash as Redis holds it."""
    redis, k = redis_of(store), store.keys
    return {name: await redis.hgetall(name)
            for name in (k.signing_keys, k.signing_current, k.signing_retire)}


def kids(jwks: dict[str, list[dict[str, str]]]) -> set[str]:
    return {jwk["kid"] for jwk in jwks["keys"]}


@pytest.mark.rule("abuse.single-current-key")
async def test_fifty_workers_making_the_first_keys_at_once_end_with_one_key_per_alg(
    store: TokenStore,
) -> None:
    workers = [StoreKeys(store, SECRET) for _ in range(50)]
    es = await asyncio.gather(*(ring.signing_key("ES256") for ring in workers))
    rs = await asyncio.gather(*(ring.signing_key("RS256") for ring in workers[:10]))
    assert len({key.kid for key in es}) == 1 and len({key.kid for key in rs}) == 1
    raw = await stored(store)
    current = {alg.decode(): kid.decode() for alg, kid in raw[store.keys.signing_current].items()}
    assert current == {"ES256": es[0].kid, "RS256": rs[0].kid}
    assert set(raw[store.keys.signing_keys]) == {str(es[0].kid).encode(), str(rs[0].kid).encode()}
    # every worker signs with the same key: the winner's, which it can open
    assert {ring.sealer is not None for ring in workers} == {True}
    assert rs[0].private_key is not None and rs[0].private_key.key_size >= 2048
    assert isinstance(es[0], ECKey) and es[0].get("crv") == "P-256"


@pytest.mark.rule("rest.signing-keys-sealed")
async def test_the_store_never_holds_a_private_key_in_the_clear(store: TokenStore) -> None:
    ring = StoreKeys(store, SECRET)
    keys = [await ring.signing_key(alg) for alg in ("RS256", "ES256")]
    everything = json.dumps({name: {k.decode(): v.decode() for k, v in values.items()}
                             for name, values in (await stored(store)).items()})
    for key in keys:
        private = key.as_dict(private=True)
        for member in ("d", "p", "q", "dp", "dq", "qi"):
            if member in private:
                assert str(private[member]) not in everything
        der = key.as_bytes(encoding="DER", private=True)
        for encoded in (base64.b64encode(der), base64.urlsafe_b64encode(der)):
            assert encoded[8:40].decode() not in everything
        assert "PRIVATE KEY" not in everything
    record = json.loads((await stored(store))[store.keys.signing_keys][str(keys[0].kid).encode()])
    assert set(record) == {"kid", "alg", "created_at", "sealed", "v"}
    assert record["sealed"].startswith("A256GCM.1.")


@pytest.mark.rule("rest.signing-keys-sealed")
async def test_a_wrong_secret_key_fails_clearly_without_key_material(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    key = await StoreKeys(store, SECRET).signing_key("RS256")
    other = StoreKeys(store, b"o" * 32)
    with caplog.at_level(logging.DEBUG), pytest.raises(KeyRingError) as failed:
        await other.signing_key("RS256")
    message = str(failed.value)
    assert f"signing key {key.kid!r} (RS256) does not decrypt" in message
    assert "secret_key differs" in message
    sealed = json.loads((await stored(store))[store.keys.signing_keys][str(key.kid).encode()])
    for text in [message, *(r.getMessage() for r in caplog.records)]:
        assert sealed["sealed"][10:40] not in text
        assert str(key.as_dict(private=True)["d"])[:20] not in text
    with pytest.raises(KeyRingError):
        await other.public_jwks()


@pytest.mark.rule("rest.signing-keys-sealed")
async def test_an_altered_or_moved_key_record_does_not_open(store: TokenStore) -> None:
    key = await StoreKeys(store, SECRET).signing_key("ES256")
    redis, k = redis_of(store), store.keys
    raw = json.loads(await redis.hget(k.signing_keys, str(key.kid)) or b"")
    body = raw["sealed"]
    flipped = body[:-5] + ("A" if body[-5] != "A" else "B") + body[-4:]
    await redis.hset(k.signing_keys, key.kid, json.dumps({**raw, "sealed": flipped}))
    with pytest.raises(KeyRingError, match="does not decrypt"):
        await StoreKeys(store, SECRET).signing_key("ES256")
    # the intact blob under another kid (the current one's name points at it): AAD refuses it
    await redis.hset(k.signing_keys, "moved", json.dumps({**raw, "kid": "moved"}))
    await redis.hset(k.signing_current, "ES256", "moved")
    with pytest.raises(KeyRingError, match="'moved' \\(ES256\\) does not decrypt"):
        await StoreKeys(store, SECRET).signing_key("ES256")
    # a record that is no JSON is never used, and listed as unreadable
    await redis.hset(k.signing_keys, "moved", "{not json")
    with pytest.raises(KeyRingError, match="no readable ES256 record"):
        await StoreKeys(store, SECRET).signing_key("ES256")
    assert ("moved", "unreadable") in {(i.kid, i.state)
                                       for i in await StoreKeys(store, None).describe()}


@pytest.mark.rule("jwks.public-only")
async def test_the_published_keys_have_no_private_member(store: TokenStore) -> None:
    ring = StoreKeys(store, SECRET)
    assert len((await ring.public_jwks())["keys"]) == 2  # publishing makes the first keys
    await ring.rotate()
    jwks = await ring.public_jwks()
    assert len(jwks["keys"]) == 4  # two current, two rotated out, still published
    for jwk in jwks["keys"]:
        assert not PRIVATE_MEMBERS & set(jwk), jwk
        for member in ("d", "p", "q", "dp", "dq", "qi", "k"):
            assert member not in jwk
        assert jwk["use"] == "sig" and jwk["alg"] in ("RS256", "ES256")
        public = (RSAKey if jwk["kty"] == "RSA" else ECKey).import_key(jwk)
        assert not public.is_private and public.thumbprint() == jwk["kid"]


@pytest.mark.rule("jwks.rotation")
async def test_a_rotation_keeps_the_old_key_published_until_its_tokens_expired(
    store: TokenStore, clock: FakeClock
) -> None:
    ring = StoreKeys(store, SECRET)
    old = await ring.signing_key("RS256")
    (made,) = await ring.rotate(["RS256"])
    assert (await ring.signing_key("RS256")).kid == made.kid != old.kid
    listed = {i.kid: i for i in await ring.describe()}
    assert listed[str(old.kid)].state == "published"
    assert listed[str(old.kid)].retire_after == pytest.approx(clock.now + PUBLISHED_FOR)
    clock.advance(PUBLISHED_FOR - 1)
    assert old.kid in kids(await StoreKeys(store, SECRET).public_jwks())
    clock.advance(1)
    published = kids(await StoreKeys(store, SECRET).public_jwks())
    assert old.kid not in published and made.kid in published
    assert {i.kid: i.state for i in await ring.describe()}[old.kid] == "expired"
    await ring.rotate(["RS256"])  # a rotation drops the records whose publication ended
    assert str(old.kid).encode() not in (await stored(store))[store.keys.signing_keys]


@pytest.mark.rule("jwks.rotation")
async def test_retire_drops_a_key_now_and_refuses_the_current_one(store: TokenStore) -> None:
    ring = StoreKeys(store, SECRET)
    old = await ring.signing_key("ES256")
    with pytest.raises(KeyRingError, match="is a current key: rotate first"):
        await ring.retire(str(old.kid))
    assert old.kid in kids(await ring.public_jwks())
    await ring.rotate(["ES256"])
    assert await ring.retire(str(old.kid)) is True
    assert old.kid not in kids(await ring.public_jwks())
    raw = await stored(store)
    assert str(old.kid).encode() not in raw[store.keys.signing_keys]
    assert str(old.kid).encode() not in raw[store.keys.signing_retire]
    assert await ring.retire(str(old.kid)) is False
    assert await ring.retire("no-such-kid") is False


async def test_a_rotation_elsewhere_is_signed_with_here_within_refresh_every(
    store: TokenStore, clock: FakeClock
) -> None:
    here, cli = StoreKeys(store, SECRET), StoreKeys(store, SECRET)
    old = await here.signing_key("RS256")
    (made,) = await cli.rotate(["RS256"])
    clock.advance(REFRESH_EVERY - 1)
    assert (await here.signing_key("RS256")).kid == old.kid  # the bound, not less
    clock.advance(1)
    assert (await here.signing_key("RS256")).kid == made.kid


@pytest.mark.rule("abuse.single-current-key")
async def test_concurrent_rotations_leave_one_current_key_and_every_other_published(
    store: TokenStore,
) -> None:
    first = await StoreKeys(store, SECRET).signing_key("ES256")
    made = await asyncio.gather(*(StoreKeys(store, SECRET).rotate(["ES256"]) for _ in range(10)))
    raw = await stored(store)
    current = raw[store.keys.signing_current][b"ES256"].decode()
    assert current in {info.kid for (info,) in made}
    everyone = {first.kid} | {info.kid for (info,) in made}
    assert {k.decode() for k in raw[store.keys.signing_keys]} == everyone
    assert {k.decode() for k in raw[store.keys.signing_retire]} == everyone - {current}
    assert kids(await StoreKeys(store, SECRET).public_jwks()) >= everyone


@pytest.mark.rule("abuse.single-current-key")
async def test_rotations_past_the_cap_are_refused(store: TokenStore) -> None:
    ring = StoreKeys(store, SECRET)
    await ring.signing_key("ES256")
    for _ in range(MAX_SIGNING_KEYS - 1):
        await ring.rotate(["ES256"])
    with pytest.raises(KeyRingError, match=f"{MAX_SIGNING_KEYS} signing keys are kept already"):
        await ring.rotate(["ES256"])
    assert await redis_of(store).hlen(store.keys.signing_keys) == MAX_SIGNING_KEYS


async def test_a_kid_collision_is_refused_not_overwritten(store: TokenStore) -> None:
    key = await StoreKeys(store, SECRET).signing_key("RS256")
    before = await stored(store)
    clash = SealedKey(kid=str(key.kid), alg="ES256", created_at=0.0, sealed="A256GCM.1.xx")
    assert await store.signing.add_first(clash) == (False, key.kid)
    status, _ = await store.signing.rotate(clash, retire_after=1.0, now=0.0)
    assert status == 0
    assert await stored(store) == before


async def test_an_algorithm_the_ring_lacks_is_a_lookup_error(store: TokenStore) -> None:
    ring = StoreKeys(store, SECRET)
    for alg in ("HS256", "none", "PS256"):
        with pytest.raises(LookupError, match="one of RS256, ES256"):
            await ring.signing_key(alg)
        with pytest.raises(LookupError):
            await ring.rotate([alg])
    assert await stored(store) == {name: {} for name in await stored(store)}


async def test_a_ring_without_the_secret_key_lists_and_retires_but_never_seals(
    store: TokenStore,
) -> None:
    reader = StoreKeys(store, None)
    assert await reader.describe() == []
    with pytest.raises(ConfigurationError, match="sealed with the server's secret_key"):
        await reader.signing_key("RS256")
    assert repr(reader) == f"StoreKeys(store={store!r})" and "s" * 32 not in repr(reader)


@pytest.mark.rule("rest.signing-keys-sealed")
async def test_after_a_new_secret_key_a_rotation_publishes_again_without_the_old_keys(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    old = await StoreKeys(store, SECRET).signing_key("RS256")
    await StoreKeys(store, SECRET).signing_key("ES256")
    renewed = StoreKeys(store, b"n" * 32)
    made = await renewed.rotate()
    with caplog.at_level(logging.ERROR):
        published = kids(await renewed.public_jwks())
    assert published == {info.kid for info in made}
    assert f"left out of the published keys: signing key {old.kid!r} (RS256)" in caplog.text
    assert await renewed.retire(str(old.kid)) is True


@pytest.mark.rule("rest.signing-keys-sealed")
async def test_a_current_kid_pointed_at_another_algorithms_key_is_never_signed_with(
    store: TokenStore,
) -> None:
    ring = StoreKeys(store, SECRET)
    rsa_key = await ring.signing_key("RS256")
    await ring.signing_key("ES256")
    await redis_of(store).hset(store.keys.signing_current, "ES256", str(rsa_key.kid))
    with pytest.raises(KeyRingError, match=f"current ES256 key {rsa_key.kid!r} has no readable"):
        await StoreKeys(store, SECRET).signing_key("ES256")


async def test_a_store_copy_moves_the_sealed_keys_and_they_open_with_the_same_secret_key(
    store: TokenStore,
) -> None:
    from oauth_middleware.store.transfer import copy

    ring = StoreKeys(store, SECRET)
    published = kids(await ring.public_jwks())
    target = TokenStore.from_url(None, prefix="copied:")
    unknown: list[str] = []
    try:
        await copy(store, target, mode="empty", on_unknown=unknown.append)
        assert unknown == []
        assert kids(await StoreKeys(target, SECRET).public_jwks()) == published
        with pytest.raises(KeyRingError, match="does not decrypt"):
            await StoreKeys(target, b"t" * 32).signing_key("RS256")
    finally:
        await target.aclose()
