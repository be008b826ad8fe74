"""Registering post-logout redirect URIs (OpenID Connect RP-Initiated Logout 1.0 §3.1): by the
host (``register_client``, ``ensure_client``, ``update_client``) and by a client itself (RFC 7591,
RFC 7592), under the redirect URI rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from oauth_middleware import TokenStore, register_client
from oauth_middleware.server.config import RegistrationPolicy
from oauth_middleware.toolbox import ensure_client, update_client
from tests.server.authorize_harness import Harness, open_harness
from tests.server.registration_harness import LOOPBACK, MCP, assert_refused, register
from tests.store_helpers import redis_of

BYE = "https://app.example/bye"


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store, registration=RegistrationPolicy()) as h:
        yield h


@pytest.mark.rule("logout.redirect.registered")
async def test_the_host_registers_and_changes_post_logout_uris(store: TokenStore) -> None:
    client = (await register_client(store, "App", "app", "https://app.example/cb",
                                    post_logout_redirect_uris=BYE)).client
    assert client.post_logout_redirect_uris == (BYE,)
    assert (await store.get_client("app")) == client
    edited = (await update_client(store, "app", post_logout_redirect_uris=[BYE, BYE + "2"]))
    assert (await store.get_client("app")) == edited.client
    assert edited.client.post_logout_redirect_uris == (BYE, BYE + "2")
    ensured = await ensure_client(store, "app", "App", redirect_uris="https://app.example/cb",
                                  post_logout_redirect_uris=[BYE])
    assert ensured.outcome == "updated" and ensured.client.post_logout_redirect_uris == (BYE,)


@pytest.mark.rule("logout.redirect.registered", "auth.redirect.registration-rules")
@pytest.mark.parametrize(("uri", "message"), [
    (BYE + "#x", "fragment"), ("http://app.example/bye", "plain http"),
    ("https://app.example/*", "wildcards"), ("/bye", "absolute"),
    ("https://app.example/b\x1bye", "without spaces or controls"),
    ("https://app.example/<script>", "must not contain"),
])
async def test_the_host_cannot_register_a_post_logout_uri_a_redirect_uri_could_not_be(
    store: TokenStore, uri: str, message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        await register_client(store, "App", "app", "https://app.example/cb",
                              post_logout_redirect_uris=[uri])
    assert await store.get_client("app") is None


async def test_records_without_post_logout_uris_keep_their_bytes(store: TokenStore) -> None:
    client = (await register_client(store, "App", "app", "https://app.example/cb")).client
    raw = await redis_of(store).get(store.keys.client("app"))
    assert isinstance(raw, bytes) and b"post_logout" not in raw
    assert client.post_logout_redirect_uris == ()


@pytest.mark.rule("logout.redirect.registered")
async def test_a_client_registers_its_own_and_reads_them_back(
    harness: Harness, store: TokenStore,
) -> None:
    bye = "http://127.0.0.1/bye"
    response = await register(harness, {**MCP, "post_logout_redirect_uris": [bye]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["post_logout_redirect_uris"] == [bye]
    client = await store.get_client(body["client_id"])
    assert client is not None and client.post_logout_redirect_uris == (bye,)
    read = await harness.http.get(
        f"/oauth/register/{body['client_id']}",
        headers={"authorization": f"Bearer {body['registration_access_token']}"})
    assert read.json()["post_logout_redirect_uris"] == [bye]
    assert "post_logout_redirect_uris" not in (await register(harness, MCP)).json()


@pytest.mark.rule("logout.redirect.registered")
@pytest.mark.parametrize(("value", "error"), [
    (["https://attacker.example/bye"], "invalid_redirect_uri"),
    ([LOOPBACK + "#x"], "invalid_redirect_uri"),
    ("http://127.0.0.1/bye", "invalid_client_metadata"),
    ([1], "invalid_client_metadata"),
    ([f"http://127.0.0.1/{i}" for i in range(21)], "invalid_client_metadata"),
])
async def test_open_registration_refuses_post_logout_uris_it_would_refuse_as_redirects(
    harness: Harness, store: TokenStore, value: Any, error: str,
) -> None:
    response = await register(harness, {**MCP, "post_logout_redirect_uris": value})
    assert_refused(response, 400, error)
    assert await store.count_dynamic_clients() == 0
