"""DPoP at the token endpoint (RFC 9449 §5, §6, §8), on both store backends."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from oauth_middleware.store import TokenStore
from tests.conftest import FakeClock
from tests.dpop.apps import TOKEN_URL, build_app
from tests.dpop.holder import Holder
from tests.server.token_harness import (
    INTROSPECT_PATH,
    METADATA_URL,
    TOKEN_PATH,
    assert_error,
    auth_of,
    code_form,
    confidential,
    http,
    new_code,
    public,
)
from tests.store_helpers import redis_of


@pytest.fixture
async def client(store: TokenStore) -> Any:
    async with http(build_app(store)) as c:
        yield c


def proof_header(holder: Holder, clock: FakeClock, **options: Any) -> dict[str, str]:
    return {"DPoP": holder.proof("POST", TOKEN_URL, now=clock.now, **options)}


async def access_record(store: TokenStore, token: str) -> Any:
    record = await store.resolve(token)
    assert record is not None
    return record


@pytest.mark.rule("dpop.server.bind")
async def test_a_proof_at_token_binds_the_access_token_and_says_dpop(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    web, holder = await confidential(store), Holder()
    response = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                 headers={**auth_of(web), **proof_header(holder, clock)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "DPoP"
    assert (await access_record(store, body["access_token"])).jkt == holder.jkt
    introspected = (await client.post(INTROSPECT_PATH, data={"token": body["access_token"]},
                                      headers=auth_of(web))).json()
    assert introspected["cnf"] == {"jkt": holder.jkt}
    assert introspected["token_type"] == "DPoP"


async def test_without_a_proof_tokens_stay_bearer(
        store: TokenStore, client: httpx.AsyncClient) -> None:
    web = await confidential(store)
    response = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                 headers=auth_of(web))
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert (await access_record(store, body["access_token"])).jkt == ""
    raw = await redis_of(store).get(await _only_access_key(store))
    # the record keeps the bytes it had before DPoP
    assert isinstance(raw, bytes) and b'"subject":"web"' in raw and b"jkt" not in raw


async def _only_access_key(store: TokenStore) -> bytes:
    keys = await redis_of(store).keys(f"{store.keys.prefix}at:*")
    assert len(keys) == 1 and isinstance(keys[0], bytes)
    return keys[0]


@pytest.mark.rule("dpop.server.bind")
async def test_a_proof_for_another_url_or_method_at_token_is_refused_and_issues_nothing(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    web, holder = await confidential(store), Holder()
    for proof in (holder.proof("POST", "https://testserver/oauth/token/", now=clock.now),
                  holder.proof("GET", TOKEN_URL, now=clock.now)):
        response = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                     headers={**auth_of(web), "DPoP": proof})
        assert_error(response, 400, "invalid_dpop_proof")
        assert "www-authenticate" not in response.headers
    assert await redis_of(store).keys(f"{store.keys.prefix}at:*") == []


@pytest.mark.rule("dpop.proof.replay")
async def test_a_proof_replayed_at_token_is_refused(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    web, holder = await confidential(store), Holder()
    headers = {**auth_of(web), **proof_header(holder, clock)}
    first = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                              headers=headers)
    assert first.status_code == 200
    again = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                              headers=headers)
    assert assert_error(again, 400, "invalid_dpop_proof")["error_description"] == \
        "The DPoP proof was used before (jti)."


@pytest.mark.rule("dpop.server.refresh-bound")
async def test_a_public_clients_bound_refresh_token_needs_the_same_key(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    spa, holder = await public(store), Holder()
    code = await new_code(store, "spa")
    tokens = (await client.post(TOKEN_PATH, data=code_form(code, client_id="spa"),
                                headers=proof_header(holder, clock))).json()
    assert tokens["token_type"] == "DPoP"
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
               "client_id": spa.client.client_id}
    for headers in ({}, proof_header(Holder(), clock)):
        refused = await client.post(TOKEN_PATH, data=refresh, headers=headers)
        assert "DPoP key" in assert_error(refused, 400, "invalid_grant")["error_description"]
    renewed = await client.post(TOKEN_PATH, data=refresh, headers=proof_header(holder, clock))
    assert renewed.status_code == 200, renewed.text  # not consumed by the refusals
    assert renewed.json()["token_type"] == "DPoP"
    assert (await access_record(store, renewed.json()["access_token"])).jkt == holder.jkt


async def test_a_confidential_clients_refresh_token_is_not_bound_to_the_key(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    web, holder = await confidential(store), Holder()
    code = await new_code(store, "web")
    tokens = (await client.post(TOKEN_PATH, data=code_form(code),
                                headers={**auth_of(web), **proof_header(holder, clock)})).json()
    other = Holder()
    renewed = await client.post(
        TOKEN_PATH, data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        headers={**auth_of(web), **proof_header(other, clock)})
    assert renewed.status_code == 200, renewed.text
    assert (await access_record(store, renewed.json()["access_token"])).jkt == other.jkt


@pytest.mark.rule("dpop.server.require")
async def test_a_client_registered_with_require_dpop_gets_nothing_without_a_proof(
        store: TokenStore, client: httpx.AsyncClient, clock: FakeClock) -> None:
    web = await confidential(store, require_dpop=True)
    assert (await store.get_client("web")).require_dpop  # type: ignore[union-attr]
    refused = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                headers=auth_of(web))
    assert assert_error(refused, 400, "invalid_dpop_proof")["error_description"] == \
        "This client must send a DPoP proof."
    assert await redis_of(store).keys(f"{store.keys.prefix}at:*") == []
    granted = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                headers={**auth_of(web), **proof_header(Holder(), clock)})
    assert granted.json()["token_type"] == "DPoP"


@pytest.mark.rule("dpop.server.nonce")
async def test_with_server_nonces_a_proof_must_carry_the_current_one(
        store: TokenStore, clock: FakeClock) -> None:
    web, holder = await confidential(store), Holder()
    async with http(build_app(store, dpop_nonce=60)) as client:
        asked = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                  headers={**auth_of(web), **proof_header(holder, clock)})
        assert_error(asked, 400, "use_dpop_nonce")
        nonce = asked.headers["dpop-nonce"]
        granted = await client.post(
            TOKEN_PATH, data={"grant_type": "client_credentials"},
            headers={**auth_of(web), **proof_header(holder, clock, nonce=nonce)})
        assert granted.status_code == 200, granted.text
        assert granted.headers["dpop-nonce"] == nonce
        assert granted.json()["token_type"] == "DPoP"


async def test_metadata_advertises_the_proof_algorithms(client: httpx.AsyncClient) -> None:
    document = (await client.get(METADATA_URL)).json()
    assert document["dpop_signing_alg_values_supported"] == [
        "ES256", "ES384", "PS256", "RS256", "Ed25519"]


@pytest.mark.rule("dpop.server.require")
async def test_require_dpop_can_be_switched_on_and_off_for_a_registered_client(
        store: TokenStore, client: httpx.AsyncClient) -> None:
    from oauth_middleware.toolbox import update_client

    web = await confidential(store)
    assert (await update_client(store, "web", require_dpop=True)).client.require_dpop
    refused = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                headers=auth_of(web))
    assert_error(refused, 400, "invalid_dpop_proof")
    kept = await update_client(store, "web", title="Renamed")
    assert kept.client.require_dpop  # None keeps the field
    await update_client(store, "web", require_dpop=False)
    granted = await client.post(TOKEN_PATH, data={"grant_type": "client_credentials"},
                                headers=auth_of(web))
    assert granted.json()["token_type"] == "Bearer"
