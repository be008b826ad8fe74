"""RFC 7592 management of dynamic clients, their use through code + PKCE, and the bounds."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from oauth_middleware import register_client
from oauth_middleware.security import pkce_s256
from oauth_middleware.server.config import RegistrationPolicy
from oauth_middleware.store import TokenStore
from tests.server.authorize_harness import VERIFIER, Harness, answer, open_harness
from tests.server.registration_harness import LOOPBACK, MCP, REGISTER, assert_refused, register


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store, registration=RegistrationPolicy(per_address=100)) as h:
        yield h


async def registered(harness: Harness, **change: Any) -> dict[str, Any]:
    response = await register(harness, {**MCP, **change})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def tokens_through_code_and_pkce(harness: Harness, client_id: str) -> dict[str, Any]:
    page = await harness.consent(client_id=client_id, redirect_uri=LOOPBACK,
                                 response_type="code", scope="polls:read",
                                 code_challenge=pkce_s256(VERIFIER), code_challenge_method="S256")
    assert "Unverified application" in page.text
    base, _, params = answer(await harness.decide(page))
    assert base == LOOPBACK
    response = await harness.http.post("/oauth/token/", data={
        "grant_type": "authorization_code", "code": params["code"], "redirect_uri": LOOPBACK,
        "client_id": client_id, "code_verifier": VERIFIER})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.rule("registration.management")
async def test_a_registered_public_client_gets_tokens_through_code_and_pkce(
    harness: Harness, store: TokenStore
) -> None:
    client_id = (await registered(harness))["client_id"]
    tokens = await tokens_through_code_and_pkce(harness, client_id)
    assert tokens["scope"] == "polls:read" and "refresh_token" in tokens
    record = await store.resolve(tokens["access_token"])
    assert record is not None and record.client_id == client_id and record.subject == "alice"
    without_pkce = await harness.authorize(client_id=client_id, redirect_uri=LOOPBACK,
                                           response_type="code", scope="polls:read")
    _, _, params = answer(without_pkce)
    assert params["error"] == "invalid_request"


async def test_the_consent_page_of_a_host_client_does_not_say_unverified(
    harness: Harness
) -> None:
    page = await harness.consent(client_id="web", redirect_uri="https://client.example/cb",
                                 response_type="code", scope="polls:read")
    assert "Unverified" not in page.text


@pytest.mark.rule("registration.management")
async def test_the_rfc_7592_cycle_reads_replaces_and_deletes_with_tokens_revoked(
    harness: Harness, store: TokenStore
) -> None:
    body = await registered(harness)
    uri, token = body["registration_client_uri"], body["registration_access_token"]
    read = await harness.http.get(uri, headers=bearer(token))
    assert read.status_code == 200 and read.headers["cache-control"] == "no-store"
    assert {k: read.json()[k] for k in (*MCP, "client_id")} == {**MCP, "client_id": body[
        "client_id"]}
    changed = {**MCP, "client_id": body["client_id"], "client_name": "Renamed",
               "redirect_uris": [LOOPBACK, "com.example.app:/cb"]}
    put = await harness.http.put(uri, json=changed, headers=bearer(token))
    assert put.status_code == 200, put.text
    assert put.json()["client_name"] == "Renamed"
    client = await store.get_client(body["client_id"])
    assert client is not None and client.title == "Renamed"
    assert client.redirect_uris == (LOOPBACK, "com.example.app:/cb") and client.dynamic
    tokens = await tokens_through_code_and_pkce(harness, body["client_id"])
    deleted = await harness.http.delete(uri, headers=bearer(token))
    assert deleted.status_code == 204 and deleted.content == b""
    assert await store.get_client(body["client_id"]) is None
    assert await store.resolve(tokens["access_token"]) is None
    assert await store.count_dynamic_clients() == 0
    assert_refused(await harness.http.get(uri, headers=bearer(token)), 401, "invalid_token")


@pytest.mark.rule("registration.management")
async def test_a_replacement_is_validated_like_a_registration(
    harness: Harness, store: TokenStore
) -> None:
    body = await registered(harness)
    uri, token = body["registration_client_uri"], body["registration_access_token"]
    other_id = {**MCP, "client_id": "someone-else"}
    assert_refused(await harness.http.put(uri, json=other_id, headers=bearer(token)),
                   400, "invalid_client_metadata")
    bad_uri = {**MCP, "client_id": body["client_id"], "redirect_uris": ["https://evil.example"]}
    assert_refused(await harness.http.put(uri, json=bad_uri, headers=bearer(token)),
                   400, "invalid_redirect_uri")
    client = await store.get_client(body["client_id"])
    assert client is not None and client.redirect_uris == (LOOPBACK,)


@pytest.mark.rule("registration.management")
async def test_management_needs_the_clients_own_registration_token(
    harness: Harness, store: TokenStore
) -> None:
    first, second = await registered(harness), await registered(harness)
    uri = first["registration_client_uri"]
    assert_refused(await harness.http.get(
        uri, headers=bearer(second["registration_access_token"])), 401, "invalid_token")
    assert_refused(await harness.http.delete(
        uri, headers=bearer(first["registration_access_token"][:-2])), 401, "invalid_token")
    missing = await harness.http.get(uri)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    host = await harness.http.delete("/oauth/register/web",
                                     headers=bearer(first["registration_access_token"]))
    assert_refused(host, 401, "invalid_token")
    odd = await harness.http.get("/oauth/register/%00%ff",
                                 headers=bearer(first["registration_access_token"]))
    assert_refused(odd, 401, "invalid_token")
    assert await store.get_client("web") is not None
    assert await store.get_client(first["client_id"]) is not None


@pytest.mark.rule("registration.bounded")
async def test_of_50_concurrent_registrations_exactly_the_allowance_succeeds(
    store: TokenStore
) -> None:
    statuses: list[int] = []
    async with open_harness(store, registration=RegistrationPolicy(per_address=7)) as harness:
        async def one() -> None:
            response = await register(harness, MCP)
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert_refused(response, 429, "slow_down")
                assert int(response.headers["retry-after"]) > 0

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(one)
    assert statuses.count(201) == 7 and statuses.count(429) == 43
    assert await store.count_dynamic_clients() == 7


@pytest.mark.rule("registration.bounded")
async def test_invalid_requests_count_against_the_allowance_too(store: TokenStore) -> None:
    async with open_harness(store, registration=RegistrationPolicy(per_address=2)) as harness:
        for _ in range(2):
            assert_refused(await register(harness, {**MCP, "scope": "nope"}), 400,
                           "invalid_client_metadata")
        assert_refused(await register(harness, MCP), 429, "slow_down")
    assert await store.count_dynamic_clients() == 0


@pytest.mark.rule("registration.bounded")
async def test_the_cap_on_dynamic_clients_is_exact_under_concurrency(store: TokenStore) -> None:
    await register_client(store, "Host client", "host", "https://host.example/cb")
    statuses: list[int] = []
    policy = RegistrationPolicy(per_address=100, max_clients=5)
    async with open_harness(store, registration=policy) as harness:
        async def one() -> None:
            statuses.append((await register(harness, MCP)).status_code)

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(one)
        refused = await register(harness, MCP)
    assert statuses.count(201) == 5 and statuses.count(403) == 15
    assert_refused(refused, 403, "access_denied")
    assert await store.count_dynamic_clients() == 5


@pytest.mark.rule("registration.management", "rest.no-raw-secrets")
async def test_no_secret_or_registration_token_reaches_a_log_or_an_error(
    store: TokenStore, caplog: pytest.LogCaptureFixture
) -> None:
    policy = RegistrationPolicy(initial_access_token="initial-access-token-0123456789")
    with caplog.at_level(logging.DEBUG):
        async with open_harness(store, registration=policy) as harness:
            gate = bearer("initial-access-token-0123456789")
            response = await harness.http.post(REGISTER, headers=gate, json={
                "redirect_uris": ["https://client.example/cb"],
                "token_endpoint_auth_method": "client_secret_basic"})
            body = response.json()
            token, secret = body["registration_access_token"], body["client_secret"]
            errors: list[httpx.Response] = [
                await harness.http.put(body["registration_client_uri"], headers=bearer(token),
                                       json={"client_id": body["client_id"],
                                             "client_secret": secret + "x"}),
                await harness.http.get(body["registration_client_uri"],
                                       headers=bearer(token + "x")),
                await harness.http.post(REGISTER, headers=bearer(secret), json=MCP),
            ]
            await harness.http.delete(body["registration_client_uri"], headers=bearer(token))
    assert [e.status_code for e in errors] == [400, 401, 401]
    assert "registered dynamically" in caplog.text
    for value in (token, secret, "initial-access-token-0123456789"):
        assert value not in caplog.text
        assert all(value not in e.text for e in errors)
