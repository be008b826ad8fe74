"""DPoP at a protected resource (RFC 9449 §7): the scheme, proofs, challenges; both backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from oauth_middleware.store import NewTokens, TokenStore
from tests.conftest import FakeClock
from tests.dpop.apps import ME, build_app
from tests.dpop.holder import Holder
from tests.server.token_harness import http
from tests.store_helpers import redis_of

ALGS = 'algs="ES256 ES384 PS256 RS256 Ed25519"'


@pytest.fixture
async def client(store: TokenStore) -> Any:
    async with http(build_app(store)) as c:
        yield c


async def bound_token(store: TokenStore, holder: Holder) -> str:
    issued = await store.issue(NewTokens(client_id="app", subject="alice",
                                         scopes=frozenset({"read"}), jkt=holder.jkt))
    return issued.access_token


def dpop(holder: Holder, token: str, clock: FakeClock, method: str = "GET", url: str = ME,
         **options: Any) -> dict[str, str]:
    options.setdefault("now", clock.now)
    return {"Authorization": f"DPoP {token}",
            "DPoP": holder.proof(method, url, access_token=token, **options)}


def assert_dpop_refusal(response: httpx.Response, error: str) -> str:
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["error"] == error
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith(f'DPoP realm="api", error="{error}", ')
    assert challenge.endswith(ALGS)
    assert response.headers["cache-control"] == "no-store"
    return str(body["error_description"])


@pytest.mark.rule("dpop.resource.ath")
async def test_a_bound_token_with_a_fresh_proof_of_its_key_is_accepted(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    response = await client.get("/me", headers=dpop(holder, token, clock))
    assert response.status_code == 200, response.text
    assert response.json() == {"user": "alice", "scopes": ["read"]}
    assert len(await redis_of(store).keys(f"{store.keys.prefix}dpop:jti:*")) == 1


@pytest.mark.rule("dpop.resource.ath")
async def test_a_stolen_bound_token_with_the_thiefs_own_key_is_refused(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    token = await bound_token(store, Holder())
    response = await client.get("/me", headers=dpop(Holder(), token, clock))
    assert "another key" in assert_dpop_refusal(response, "invalid_dpop_proof")
    # refused before the proof was remembered: the thief cannot burn the owner's jtis
    assert await redis_of(store).keys(f"{store.keys.prefix}dpop:jti:*") == []


@pytest.mark.rule("dpop.resource.ath")
async def test_a_proof_made_for_another_token_is_refused(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    holder = Holder()
    token, other = await bound_token(store, holder), await bound_token(store, holder)
    headers = {**dpop(holder, other, clock), "Authorization": f"DPoP {token}"}
    assert "ath" in assert_dpop_refusal(await client.get("/me", headers=headers),
                                        "invalid_dpop_proof")


@pytest.mark.rule("dpop.resource.scheme")
async def test_a_bound_token_sent_as_bearer_is_refused_wherever_it_travels(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    proof = dpop(holder, token, clock)["DPoP"]
    for response in (
        await client.get("/me", headers={"Authorization": f"Bearer {token}", "DPoP": proof}),
        await client.get("/me", params={"access_token": token}),
        await client.post("/me", data={"access_token": token}),
    ):
        assert "DPoP scheme" in assert_dpop_refusal(response, "invalid_token")


@pytest.mark.rule("dpop.resource.scheme")
async def test_a_bearer_token_sent_with_the_dpop_scheme_is_refused(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    holder = Holder()
    token = (await store.issue(NewTokens(client_id="app", subject="alice"))).access_token
    response = await client.get("/me", headers=dpop(holder, token, clock))
    assert "not DPoP-bound" in assert_dpop_refusal(response, "invalid_token")
    plain = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert plain.status_code == 200  # the bearer path is unchanged


@pytest.mark.rule("dpop.proof.replay")
async def test_a_replayed_proof_at_the_resource_is_refused(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    headers = dpop(holder, token, clock)
    assert (await client.get("/me", headers=headers)).status_code == 200
    assert "used before" in assert_dpop_refusal(await client.get("/me", headers=headers),
                                                "invalid_dpop_proof")


@pytest.mark.rule("dpop.proof.checks")
async def test_a_proof_for_another_method_or_url_at_the_resource_is_refused(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    wrong_method = await client.get("/me", headers=dpop(holder, token, clock, method="POST"))
    assert "htm" in assert_dpop_refusal(wrong_method, "invalid_dpop_proof")
    for url in ("https://testserver/other", "https://evil.example/me"):
        wrong_url = await client.get("/me", headers=dpop(holder, token, clock, url=url))
        assert "htu" in assert_dpop_refusal(wrong_url, "invalid_dpop_proof")
    # the Host header does not choose the URL: the configured public_url does
    spoofed = await client.get("/me", headers={**dpop(holder, token, clock,
                                                      url="https://evil.example/me"),
                                               "Host": "evil.example"})
    assert "htu" in assert_dpop_refusal(spoofed, "invalid_dpop_proof")
    with_query = await client.get("/me?x=1", headers=dpop(holder, token, clock))
    assert with_query.status_code == 200


@pytest.mark.rule("dpop.proof.iat-window")
async def test_an_expired_or_future_proof_at_the_resource_is_refused(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    for skew in (-61, 61):
        headers = dpop(holder, token, clock, now=clock.now + skew)
        assert "iat" in assert_dpop_refusal(await client.get("/me", headers=headers),
                                            "invalid_dpop_proof")


@pytest.mark.rule("dpop.proof.single-header")
async def test_missing_duplicated_huge_or_garbage_proofs_are_refused_never_500(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    proof = dpop(holder, token, clock)["DPoP"]
    auth = ("authorization", f"DPoP {token}")
    cases = [
        [auth], [auth, ("dpop", proof), ("dpop", proof)], [auth, ("dpop", "x" * 100_000)],
        [auth, ("dpop", "a.b.c")], [auth, ("dpop", "e30.e30.e30")], [auth, ("dpop", "")],
    ]
    for headers in cases:
        response = await client.get("/me", headers=headers)
        assert_dpop_refusal(response, "invalid_dpop_proof")
    assert await redis_of(store).keys(f"{store.keys.prefix}dpop:jti:*") == []


@pytest.mark.rule("dpop.resource.challenge")
async def test_an_unknown_token_with_the_dpop_scheme_gets_a_dpop_invalid_token(
        client: httpx.AsyncClient, clock: FakeClock) -> None:
    response = await client.get("/me", headers=dpop(Holder(), "unknown-token", clock))
    assert "invalid, expired or revoked" in assert_dpop_refusal(response, "invalid_token")
    bearer = await client.get("/me", headers={"Authorization": "Bearer unknown-token"})
    assert bearer.headers["www-authenticate"].startswith('Bearer realm="api", error=')


@pytest.mark.rule("dpop.resource.challenge")
async def test_without_a_public_url_dpop_is_refused_not_guessed_from_the_host(
        store: TokenStore, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(build_app(store, public_url=None)) as client:
        response = await client.get("/me", headers=dpop(holder, token, clock))
    assert "does not accept" in assert_dpop_refusal(response, "invalid_dpop_proof")


@pytest.mark.rule("dpop.proof.checks")
async def test_a_public_url_with_a_path_prefix_is_what_htu_starts_with(
        store: TokenStore, clock: FakeClock) -> None:
    """Behind a proxy that strips /api, clients sign https://testserver/api/me."""
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(build_app(store, public_url="https://testserver/api/")) as client:
        ok = await client.get("/me", headers=dpop(holder, token, clock,
                                                   url="https://testserver/api/me"))
        assert ok.status_code == 200, ok.text
        unprefixed = await client.get("/me", headers=dpop(holder, token, clock))
        assert "htu" in assert_dpop_refusal(unprefixed, "invalid_dpop_proof")


def test_a_public_url_that_is_no_http_url_is_refused_at_construction(store: TokenStore) -> None:
    from oauth_middleware.settings_checks import ConfigurationError

    for wrong in ("api.example.com", "ftp://api.example.com", "https://"):
        with pytest.raises(ConfigurationError, match="public_url"):
            build_app(store, public_url=wrong).build_middleware_stack()
