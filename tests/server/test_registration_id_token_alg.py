"""``id_token_signed_response_alg`` in dynamic registration (OpenID Connect Dynamic Client
Registration 1.0 §2; RFC 7591, RFC 7592): taken only when the server's key ring signs with it,
echoed, kept by a read and changed by a replacement. Both store backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from oauth_middleware import TokenStore
from oauth_middleware.keyring import FileKeys
from oauth_middleware.server.config import RegistrationPolicy
from tests.server.authorize_harness import Harness, open_harness
from tests.server.registration_harness import MCP, assert_refused, register


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store, registration=RegistrationPolicy()) as h:
        yield h


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_a_client_registers_es256_reads_it_back_and_replaces_it(
    harness: Harness, store: TokenStore
) -> None:
    response = await register(harness, {**MCP, "id_token_signed_response_alg": "ES256"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id_token_signed_response_alg"] == "ES256"
    client = await store.get_client(body["client_id"])
    assert client is not None and client.id_token_signed_response_alg == "ES256"
    uri, token = body["registration_client_uri"], body["registration_access_token"]
    read = await harness.http.get(uri, headers=bearer(token))
    assert read.json()["id_token_signed_response_alg"] == "ES256"
    put = await harness.http.put(uri, headers=bearer(token), json={
        **MCP, "client_id": body["client_id"], "id_token_signed_response_alg": "RS256"})
    assert put.status_code == 200 and put.json()["id_token_signed_response_alg"] == "RS256"
    client = await store.get_client(body["client_id"])
    assert client is not None and client.id_token_signed_response_alg == "RS256"
    plain = (await register(harness, MCP)).json()
    assert "id_token_signed_response_alg" not in plain


@pytest.mark.parametrize("value", ["none", "HS256", "RS512", "", "es256", 256, ["ES256"]])
async def test_an_algorithm_the_key_ring_does_not_sign_is_invalid_client_metadata(
    harness: Harness, store: TokenStore, value: Any
) -> None:
    response = await register(harness, {**MCP, "id_token_signed_response_alg": value})
    body = assert_refused(response, 400, "invalid_client_metadata")
    assert body["error_description"] == \
        "id_token_signed_response_alg must be one of ES256, RS256."
    assert await store.count_dynamic_clients() == 0


async def test_a_ring_signing_rs256_only_refuses_es256(store: TokenStore) -> None:
    rsa_only = FileKeys([("RS256", RSAKey.generate_key(2048, auto_kid=True))])
    async with open_harness(store, registration=RegistrationPolicy(),
                            signing_keys=rsa_only) as harness:
        response = await register(harness, {**MCP, "id_token_signed_response_alg": "ES256"})
        body = assert_refused(response, 400, "invalid_client_metadata")
        assert body["error_description"] == "id_token_signed_response_alg must be one of RS256."
        assert (await register(harness, {**MCP, "id_token_signed_response_alg": "RS256"})
                ).status_code == 201
    assert await store.count_dynamic_clients() == 1
