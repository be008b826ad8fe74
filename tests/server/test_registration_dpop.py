"""``dpop_bound_access_tokens`` in dynamic registration (RFC 9449 §5.2; RFC 7591, RFC 7592):
kept as the client's ``require_dpop``, echoed, read back and replaced; such a client's token
request without a proof is refused before its code is spent. Every store backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from oauth_middleware import TokenStore
from oauth_middleware.server.config import RegistrationPolicy
from tests.conftest import FakeClock
from tests.dpop.holder import Holder
from tests.server.authorize_harness import ISSUER, Harness, open_harness
from tests.server.registration_harness import LOOPBACK, MCP, assert_refused, register
from tests.server.token_harness import assert_error, code_form, new_code

TOKEN = "/oauth/token/"


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store, registration=RegistrationPolicy()) as h:
        yield h


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.rule("dpop.server.require")
async def test_a_client_registered_dpop_bound_reads_it_back_and_can_drop_it(
    harness: Harness, store: TokenStore
) -> None:
    response = await register(harness, {**MCP, "dpop_bound_access_tokens": True})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["dpop_bound_access_tokens"] is True
    client = await store.get_client(body["client_id"])
    assert client is not None and client.require_dpop is True
    uri, token = body["registration_client_uri"], body["registration_access_token"]
    read = await harness.http.get(uri, headers=bearer(token))
    assert read.status_code == 200 and read.json()["dpop_bound_access_tokens"] is True
    put = await harness.http.put(uri, headers=bearer(token),
                                 json={**MCP, "client_id": body["client_id"]})
    assert put.status_code == 200, put.text
    assert "dpop_bound_access_tokens" not in put.json()
    client = await store.get_client(body["client_id"])
    assert client is not None and client.require_dpop is False
    assert "dpop_bound_access_tokens" not in (await register(harness, MCP)).json()


@pytest.mark.rule("dpop.server.require")
async def test_a_dpop_bound_client_without_a_proof_gets_invalid_dpop_proof_and_keeps_its_code(
    harness: Harness, store: TokenStore, clock: FakeClock
) -> None:
    client_id = (await register(harness, {**MCP, "dpop_bound_access_tokens": True})
                 ).json()["client_id"]
    code = await new_code(store, client_id, redirect_uri=LOOPBACK, scopes=("polls:read",))
    form = code_form(code, redirect_uri=LOOPBACK, client_id=client_id)
    refused = await harness.http.post(TOKEN, data=form)
    body = assert_error(refused, 400, "invalid_dpop_proof")
    assert body["error_description"] == "This client must send a DPoP proof."
    proof = Holder().proof("POST", f"{ISSUER}/token/", now=clock.now)
    granted = await harness.http.post(TOKEN, data=form, headers={"DPoP": proof})
    assert granted.status_code == 200, granted.text
    assert granted.json()["token_type"] == "DPoP"


@pytest.mark.parametrize("value", ["true", 1, None, ["true"]])
async def test_a_dpop_bound_value_that_is_no_boolean_is_invalid_client_metadata(
    harness: Harness, store: TokenStore, value: Any
) -> None:
    response = await register(harness, {**MCP, "dpop_bound_access_tokens": value})
    body = assert_refused(response, 400, "invalid_client_metadata")
    assert body["error_description"] == "dpop_bound_access_tokens must be true or false."
    assert await store.count_dynamic_clients() == 0
