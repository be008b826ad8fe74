"""DPoP nonces at a protected resource (RFC 9449 §9) and the RFC 9728 §2 DPoP metadata:
``dpop_nonce`` and ``require_dpop`` on the middleware, every store backend."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from oauth_middleware import OAuthMiddleware
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.store import NewTokens, TokenStore
from tests.conftest import FakeClock
from tests.dpop.apps import PUBLIC_URL
from tests.dpop.holder import Holder
from tests.dpop.test_middleware import ALGS, bound_token, dpop
from tests.sent import commands_sent
from tests.server.token_harness import http, me
from tests.store_helpers import over, redis_of

RESOURCE = f"{PUBLIC_URL}/me"
METADATA = "/.well-known/oauth-protected-resource/me"


def resource_app(store: TokenStore, **options: Any) -> Starlette:
    app = Starlette(routes=[Route("/me", me)])
    app.add_middleware(OAuthMiddleware, store=store, scopes={"/me": []},
                       public_url=PUBLIC_URL, **options)
    return app


def assert_nonce_refusal(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "use_dpop_nonce"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('DPoP realm="api", error="use_dpop_nonce", ')
    assert challenge.endswith(ALGS)
    assert response.headers["cache-control"] == "no-store"
    nonce = response.headers["dpop-nonce"]
    assert len(nonce) >= 16 and nonce.isascii()
    return nonce


async def jtis(store: TokenStore) -> int:
    return len(await redis_of(store).keys(f"{store.keys.prefix}dpop:jti:*"))


@pytest.mark.rule("dpop.resource.nonce")
async def test_a_proof_without_the_resources_nonce_gets_use_dpop_nonce_and_keeps_its_jti(
        store: TokenStore, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(resource_app(store, dpop_nonce=60)) as client:
        nonce = assert_nonce_refusal(await client.get("/me", headers=dpop(holder, token, clock)))
        assert await jtis(store) == 0
        wrong = await client.get("/me", headers=dpop(holder, token, clock, nonce="made-up"))
        assert assert_nonce_refusal(wrong) == nonce
        granted = await client.get("/me", headers=dpop(holder, token, clock, nonce=nonce))
    assert granted.status_code == 200, granted.text
    assert granted.json() == {"user": "alice", "scopes": ["read"]}
    assert await jtis(store) == 1


@pytest.mark.rule("dpop.resource.nonce")
async def test_resource_nonces_are_shared_by_workers_and_rotate_with_one_window_of_grace(
        store: TokenStore, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(resource_app(store, dpop_nonce=60)) as one, \
            http(resource_app(store, dpop_nonce=60)) as other:
        nonce = assert_nonce_refusal(await one.get("/me", headers=dpop(holder, token, clock)))
        accepted = await other.get("/me", headers=dpop(holder, token, clock, nonce=nonce))
        assert accepted.status_code == 200, accepted.text
        clock.advance(60)
        still = await other.get("/me", headers=dpop(holder, token, clock, nonce=nonce))
        assert still.status_code == 200, still.text
        clock.advance(60)
        stale = await one.get("/me", headers=dpop(holder, token, clock, nonce=nonce))
        fresh = assert_nonce_refusal(stale)
    assert fresh != nonce
    assert len(await redis_of(store).keys(f"{store.keys.prefix}dpop:nonce:*")) <= 3


@pytest.mark.rule("dpop.resource.nonce")
async def test_fifty_concurrent_first_requests_on_two_workers_are_all_given_one_nonce(
        store: TokenStore, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(resource_app(store, dpop_nonce=60)) as one, \
            http(resource_app(store, dpop_nonce=60)) as other:
        answers = await asyncio.gather(*(
            (one if i % 2 else other).get("/me", headers=dpop(holder, token, clock))
            for i in range(50)))
    nonces = {assert_nonce_refusal(answer) for answer in answers}
    assert len(nonces) == 1
    assert len(await redis_of(store).keys(f"{store.keys.prefix}dpop:nonce:*")) == 1
    assert await jtis(store) == 0


@pytest.mark.rule("dpop.resource.nonce")
async def test_without_dpop_nonce_a_proof_needs_no_nonce(
        store: TokenStore, clock: FakeClock) -> None:
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(resource_app(store)) as client:
        response = await client.get("/me", headers=dpop(holder, token, clock))
    assert response.status_code == 200, response.text
    assert "dpop-nonce" not in response.headers


@pytest.mark.rule("dpop.resource.required")
async def test_require_dpop_refuses_a_bearer_token_and_takes_a_bound_one(
        store: TokenStore, clock: FakeClock) -> None:
    issued = await store.issue(NewTokens(client_id="app", subject="alice",
                                         scopes=frozenset({"read"})))
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(resource_app(store, require_dpop=True)) as client:
        refused = await client.get(
            "/me", headers={"Authorization": f"Bearer {issued.access_token}"})
        granted = await client.get("/me", headers=dpop(holder, token, clock))
        anonymous = await client.get("/me")
    assert anonymous.status_code == 401
    assert anonymous.json() == {"error_description": "A DPoP-bound access token is required."}
    assert anonymous.headers["www-authenticate"] == f'DPoP realm="api", {ALGS}'
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid_token", "error_description":
                              "This resource takes only DPoP-bound access tokens."}
    assert refused.headers["www-authenticate"].startswith(
        'DPoP realm="api", error="invalid_token", ')
    assert granted.status_code == 200, granted.text


@pytest.mark.rule("dpop.resource.metadata")
async def test_protected_resource_metadata_names_the_dpop_algorithms_and_the_requirement(
        store: TokenStore) -> None:
    async with http(resource_app(store, resource=RESOURCE, require_dpop=True)) as client:
        required = (await client.get(METADATA)).json()
    async with http(resource_app(store, resource=RESOURCE)) as client:
        optional = (await client.get(METADATA)).json()
    algs = ["ES256", "ES384", "PS256", "RS256", "Ed25519"]
    assert required["dpop_signing_alg_values_supported"] == algs
    assert required["dpop_bound_access_tokens_required"] is True
    assert optional["dpop_signing_alg_values_supported"] == algs
    assert "dpop_bound_access_tokens_required" not in optional
    assert required["resource"] == optional["resource"] == RESOURCE


@pytest.mark.parametrize(("options", "fragment"), [
    ({"dpop_nonce": 5}, "dpop_nonce=5 is wrong"),
    ({"dpop_nonce": 86401}, "dpop_nonce=86401 is wrong"),
    ({"dpop_nonce": 60, "public_url": None}, "need DPoP proofs checked"),
    ({"require_dpop": True, "public_url": None}, "need DPoP proofs checked"),
])
def test_dpop_nonce_and_require_dpop_are_checked_at_construction(
        store: TokenStore, options: dict[str, Any], fragment: str) -> None:
    app = Starlette(routes=[Route("/me", me)])
    with pytest.raises(ConfigurationError, match=fragment):
        OAuthMiddleware(app, store=store, scopes={"/me": []},
                        **{"public_url": PUBLIC_URL, **options})


def _nonce_reads(sent: list[tuple[Any, ...]]) -> int:
    return sum(1 for command in sent if b"dpop:nonce:" in _raw(command[1]))


def _raw(key: Any) -> bytes:
    return key if isinstance(key, bytes) else str(key).encode()


@pytest.mark.rule("dpop.resource.nonce")
async def test_a_windows_nonce_is_read_from_redis_once_per_worker(
        store: TokenStore, clock: FakeClock) -> None:
    """A window's nonce never changes once made, so a worker remembers it for the window:
    a proof carrying it costs one round trip less (the token's and the jti's remain)."""
    holder = Holder()
    token = await bound_token(store, holder)
    async with http(resource_app(store, dpop_nonce=60)) as client:
        nonce = assert_nonce_refusal(await client.get("/me", headers=dpop(holder, token, clock)))
        with commands_sent() as sent:
            answers = [await client.get("/me", headers=dpop(holder, token, clock, nonce=nonce))
                       for _ in range(5)]
        assert [a.status_code for a in answers] == [200] * 5, answers[0].text
        assert _nonce_reads(sent) == 0
        assert sum(1 for command in sent if command[0] in ("SET", b"SET")) == 5  # the jtis
        clock.advance(60)  # the window turned: read once, then remembered again
        with commands_sent() as sent:
            for _ in range(3):
                turned = await client.get("/me", headers=dpop(holder, token, clock, nonce=nonce))
                assert turned.status_code == 200, turned.text
        assert _nonce_reads(sent) == 3  # one SET NX and two GETs, in one round trip


@pytest.mark.rule("dpop.resource.nonce")
async def test_a_nonce_the_worker_does_not_remember_is_looked_up_again_before_a_refusal(
        store: TokenStore, clock: FakeClock) -> None:
    """Redis lost the window's nonce after this worker read it, and another worker made a
    new one: a proof with the new nonce is taken here too, and this worker hands it out."""
    holder = Holder()
    token = await bound_token(store, holder)
    other = over(redis_of(store), clock=clock)
    async with http(resource_app(store, dpop_nonce=60)) as one, \
            http(resource_app(other, dpop_nonce=60)) as two:
        first = assert_nonce_refusal(await one.get("/me", headers=dpop(holder, token, clock)))
        await redis_of(store).delete(*await redis_of(store).keys(
            f"{store.keys.prefix}dpop:nonce:*"))
        second = assert_nonce_refusal(await two.get("/me", headers=dpop(holder, token, clock)))
        assert second != first
        taken = await one.get("/me", headers=dpop(holder, token, clock, nonce=second))
        assert taken.status_code == 200, taken.text
        assert assert_nonce_refusal(await one.get(
            "/me", headers=dpop(holder, token, clock, nonce="made-up"))) == second
    assert await jtis(store) == 1
