"""DPoP proof checks (RFC 9449 §4.3), and the replay cache on both store backends (§11.1)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json

import pytest

from oauth_middleware.dpop import MAX_PROOF_SIZE, ProofChecker, single_proof, verify
from oauth_middleware.dpop.htu import normalised
from oauth_middleware.errors import InvalidDPoPProof, UseDPoPNonce
from oauth_middleware.store import TokenStore
from tests.conftest import FakeClock
from tests.dpop.holder import Holder, unsigned
from tests.store_helpers import redis_of

URL = "https://api.example/items"


def refused(proof: str, *, now: float, method: str = "GET", url: str = URL,
            access_token: str | None = None) -> str:
    with pytest.raises(InvalidDPoPProof) as caught:
        verify(proof, method=method, url=url, now=now, window=60, access_token=access_token)
    assert caught.value.error == "invalid_dpop_proof"
    return caught.value.description


@pytest.mark.parametrize("alg", ["ES256", "ES384", "PS256", "RS256", "Ed25519"])
@pytest.mark.rule("dpop.proof.checks")
def test_a_proof_of_each_allowed_algorithm_verifies_and_names_its_key(alg: str) -> None:
    holder = Holder("RS256" if alg == "PS256" else alg)
    holder.alg = alg
    checked = verify(holder.proof("GET", URL, now=1000, access_token="tok"), method="GET",
                     url=URL, now=1000, window=60, access_token="tok")
    assert checked.jkt == holder.jkt
    assert checked.iat == 1000


@pytest.mark.rule("dpop.proof.checks")
def test_a_proof_for_another_method_or_url_is_refused() -> None:
    holder = Holder()
    assert "htm" in refused(holder.proof("POST", URL, now=1000), now=1000)
    assert "htu" in refused(holder.proof("GET", "https://api.example/other", now=1000),
                            now=1000)
    assert "htu" in refused(holder.proof("GET", "https://evil.example/items", now=1000),
                            now=1000)
    assert "htm" in refused(holder.proof("get", URL, now=1000), now=1000)


def test_htu_is_compared_normalised_without_query_or_fragment() -> None:
    holder = Holder()
    for sent in ("HTTPS://API.example:443/items", "https://api.example/items?x=1#f"):
        assert verify(holder.proof("GET", sent, now=5), method="GET", url=URL, now=5,
                      window=60).jkt == holder.jkt
    assert normalised("https://api.example") == "https://api.example/"
    assert normalised("https://api.example:8443/a") == "https://api.example:8443/a"
    assert normalised("https://api.example/a%2Fb") != normalised("https://api.example/a/b")


@pytest.mark.rule("dpop.proof.iat-window")
def test_a_proof_too_old_or_from_the_future_is_refused() -> None:
    holder = Holder()
    assert "iat" in refused(holder.proof("GET", URL, now=1000 - 61), now=1000)
    assert "iat" in refused(holder.proof("GET", URL, now=1000 + 61), now=1000)
    for edge in (1000 - 60, 1000 + 60):
        assert verify(holder.proof("GET", URL, now=edge), method="GET", url=URL, now=1000,
                      window=60).iat == edge
    assert "iat" in refused(holder.proof("GET", URL, claims={"iat": "1000"}), now=1000)
    assert "iat" in refused(holder.proof("GET", URL, claims={"iat": True}), now=1000)


@pytest.mark.rule("dpop.proof.alg")
def test_alg_none_and_hmac_proofs_are_refused() -> None:
    holder = Holder()
    claims = {"jti": "j", "htm": "GET", "htu": URL, "iat": 1000}
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": holder.public_jwk()}
    assert "alg" in refused(unsigned(header, claims, b"x"), now=1000)
    # HS256 keyed with the public key's bytes: the classic confusion of a shared verifier
    header = {**header, "alg": "HS256"}
    signing_input = ".".join(unsigned(header, claims, b"x").split(".")[:2]).encode()
    secret = json.dumps(holder.public_jwk()).encode()
    forged = unsigned(header, claims, hmac.new(secret, signing_input, hashlib.sha256).digest())
    assert "alg" in refused(forged, now=1000)


@pytest.mark.rule("dpop.proof.checks")
def test_a_proof_with_a_private_key_or_no_key_is_refused() -> None:
    holder = Holder()
    claims = {"jti": "j", "htm": "GET", "htu": URL, "iat": 1}

    def with_jwk(jwk: object) -> str:
        return unsigned({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}, claims, b"sig")

    assert "private" in refused(with_jwk(holder.key.as_dict(private=True)), now=1)
    assert "private" in refused(with_jwk({**holder.public_jwk(), "d": "AAAA"}), now=1)
    for wrong in (None, "key", {"kty": "oct", "k": "c2VjcmV0"}, {"kty": "EC"}):
        assert "jwk" in refused(with_jwk(wrong), now=1)


@pytest.mark.rule("dpop.proof.checks")
def test_a_proof_signed_by_another_key_than_its_jwk_is_refused() -> None:
    holder, other = Holder(), Holder()
    proof = holder.proof("GET", URL, now=1, header={"jwk": other.public_jwk()})
    assert "signature" in refused(proof, now=1)


@pytest.mark.rule("dpop.proof.checks")
def test_a_proof_of_another_type_or_shape_is_refused() -> None:
    holder = Holder()
    assert "typ" in refused(holder.proof("GET", URL, now=1, header={"typ": "JWT"}), now=1)
    crit = {"typ": "dpop+jwt", "alg": "ES256", "jwk": holder.public_jwk(), "crit": ["x"],
            "x": 1}
    assert "typ" in refused(unsigned(crit, {"jti": "j", "htm": "GET", "htu": URL, "iat": 1},
                                     b"sig"), now=1)
    assert "jti" in refused(holder.proof("GET", URL, now=1, claims={"jti": ""}), now=1)
    assert "jti" in refused(holder.proof("GET", URL, now=1, claims={"jti": "j" * 257}), now=1)
    for junk in ("", "a.b", "a.b.c.d", "é.b.c", "e30.e30.", "W10.e30.c2ln"):
        assert "compact" in refused(junk, now=1)


@pytest.mark.rule("dpop.proof.size")
def test_a_huge_proof_is_refused_before_any_parsing() -> None:
    holder = Holder()
    proof = holder.proof("GET", URL, now=1, claims={"pad": "x" * MAX_PROOF_SIZE})
    assert len(proof) > MAX_PROOF_SIZE
    assert "compact" in refused(proof, now=1)


@pytest.mark.rule("dpop.resource.ath")
def test_a_proof_for_another_access_token_is_refused() -> None:
    holder = Holder()
    assert "ath" in refused(holder.proof("GET", URL, now=1, access_token="other"), now=1,
                            access_token="mine")
    assert "ath" in refused(holder.proof("GET", URL, now=1), now=1, access_token="mine")


@pytest.mark.rule("dpop.proof.single-header")
def test_two_dpop_headers_or_an_empty_one_are_refused() -> None:
    assert single_proof([(b"host", b"x")]) is None
    assert single_proof([(b"dpop", b" a.b.c ")]) == "a.b.c"
    for headers in ([(b"dpop", b"a.b.c"), (b"dpop", b"a.b.c")], [(b"dpop", b"  ")],
                    [(b"dpop", "é".encode())]):
        with pytest.raises(InvalidDPoPProof):
            single_proof(headers)


@pytest.mark.rule("dpop.proof.replay")
async def test_a_replayed_proof_is_refused_and_remembered_for_twice_the_window(
        store: TokenStore, clock: FakeClock) -> None:
    holder = Holder()
    checker = ProofChecker(store, window=60)
    proof = holder.proof("GET", URL, now=clock.now, jti="once")
    assert (await checker.check(proof, method="GET", url=URL)).jti == "once"
    with pytest.raises(InvalidDPoPProof, match="used before"):
        await checker.check(proof, method="GET", url=URL)
    keys = await redis_of(store).keys(f"{store.keys.prefix}dpop:jti:*")
    assert len(keys) == 1
    assert 0 < await redis_of(store).pttl(keys[0]) <= 120_000
    # the same jti from another key is another proof
    await checker.check(Holder().proof("GET", URL, now=clock.now, jti="once"),
                        method="GET", url=URL)


@pytest.mark.rule("dpop.proof.replay")
async def test_of_fifty_concurrent_replays_exactly_one_is_accepted(
        store: TokenStore, clock: FakeClock) -> None:
    checker = ProofChecker(store)
    proof = Holder().proof("GET", URL, now=clock.now)

    async def attempt() -> bool:
        try:
            await checker.check(proof, method="GET", url=URL)
        except InvalidDPoPProof:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(50)))
    assert results.count(True) == 1


@pytest.mark.rule("dpop.server.nonce")
async def test_nonces_rotate_per_window_and_the_previous_one_still_counts(
        store: TokenStore, clock: FakeClock) -> None:
    holder = Holder()
    checker = ProofChecker(store, nonce_period=60)
    with pytest.raises(UseDPoPNonce) as caught:
        await checker.check(holder.proof("GET", URL, now=clock.now), method="GET", url=URL)
    first = caught.value.nonce
    assert caught.value.headers == {"DPoP-Nonce": first}
    assert await ProofChecker(store, nonce_period=60).current_nonce() == first  # shared
    await checker.check(holder.proof("GET", URL, now=clock.now, nonce=first),
                        method="GET", url=URL)
    clock.advance(60)
    second = await checker.current_nonce()
    assert second not in (None, first)
    await checker.check(holder.proof("GET", URL, now=clock.now, nonce=first),
                        method="GET", url=URL)
    clock.advance(60)
    with pytest.raises(UseDPoPNonce):
        await checker.check(holder.proof("GET", URL, now=clock.now, nonce=first),
                            method="GET", url=URL)


@pytest.mark.rule("dpop.proof.alg")
def test_a_key_of_another_type_than_the_alg_or_a_short_rsa_key_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    claims = {"jti": "j", "htm": "GET", "htu": URL, "iat": 1}
    ec_jwk = Holder().public_jwk()
    for alg in ("RS256", "PS256", "ES384", "Ed25519"):
        header = {"typ": "dpop+jwt", "alg": alg, "jwk": ec_jwk}
        assert "not a key for its alg" in refused(unsigned(header, claims, b"sig"), now=1)
    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()  # noqa: S505

    def b64int(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    short = {"kty": "RSA", "n": b64int(numbers.n), "e": b64int(numbers.e)}
    header = {"typ": "dpop+jwt", "alg": "RS256", "jwk": short}
    assert "2048" in refused(unsigned(header, claims, b"sig"), now=1)


def test_the_header_of_a_key_is_checked_once_and_a_refused_one_never_remembered() -> None:
    from oauth_middleware.dpop import signer

    holder = Holder()
    first = holder.proof("GET", URL, now=1)
    second = holder.proof("GET", URL, now=1)
    assert first.split(".")[0] == second.split(".")[0]
    verify(first, method="GET", url=URL, now=1, window=60)
    remembered = signer._MEMO[first.split(".")[0]]
    verify(second, method="GET", url=URL, now=1, window=60)
    assert signer._MEMO[second.split(".")[0]] is remembered
    bad = unsigned({"typ": "JWT", "alg": "ES256", "jwk": holder.public_jwk()}, {}, b"sig")
    refused(bad, now=1)
    assert bad.split(".")[0] not in signer._MEMO
    # a valid header does not make a forged signature pass
    forged = ".".join([*first.split(".")[:2], second.split(".")[2]])
    assert "signature" in refused(forged, now=1)


@pytest.mark.rule("dpop.server.nonce")
async def test_fifty_workers_asking_at_once_agree_on_one_nonce(
        store: TokenStore, clock: FakeClock) -> None:
    checkers = [ProofChecker(store, nonce_period=60) for _ in range(50)]
    nonces = await asyncio.gather(*(c.current_nonce() for c in checkers))
    assert len(set(nonces)) == 1 and nonces[0]
    keys = await redis_of(store).keys(f"{store.keys.prefix}dpop:nonce:*")
    assert len(keys) == 1
    assert 0 < await redis_of(store).pttl(keys[0]) <= 120_000


@pytest.mark.rule("dpop.proof.checks")
def test_urls_are_normalised_once_in_a_bounded_memo_and_a_non_url_never_matches() -> None:
    """Each ``htu`` spelling is parsed once and the memo never holds more than its bound;
    an ``htu`` that is no URL is refused however often it comes (never remembered as a
    match), and a server URL that is no URL is still a configuration error."""
    from oauth_middleware.dpop import proof

    holder = Holder()
    proof._normalised.cache_clear()
    for n in range(proof.HTU_MEMO_SIZE + 50):
        assert "htu" in refused(holder.proof("GET", f"https://api.example/x{n}", now=1), now=1)
    assert proof._normalised.cache_info().currsize == proof.HTU_MEMO_SIZE
    for _ in range(2):
        assert verify(holder.proof("GET", URL, now=1), method="GET", url=URL, now=1,
                      window=60).jkt == holder.jkt
    assert proof._normalised.cache_info().hits >= 2
    for bad in ("not a url", "ftp://api.example/items", "https://user@api.example/items"):
        for _ in range(2):
            assert "htu" in refused(holder.proof("GET", bad, now=1), now=1)
            with pytest.raises(ValueError, match="not an absolute"):
                verify(holder.proof("GET", bad, now=1), method="GET", url=bad, now=1,
                       window=60)
