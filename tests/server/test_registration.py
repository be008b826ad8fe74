"""RFC 7591 dynamic registration at ``register/``: policies, validation, odd input."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from oauth_middleware.security import digest
from oauth_middleware.server.config import RegistrationPolicy
from oauth_middleware.store import TokenStore
from tests.server.authorize_harness import Harness, open_harness
from tests.server.registration_harness import (
    INITIAL,
    LOOPBACK,
    MCP,
    REGISTER,
    assert_refused,
    register,
)
from tests.store_helpers import redis_of


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store, registration=RegistrationPolicy()) as h:
        yield h


@pytest.mark.rule("registration.policy")
async def test_registration_is_disabled_by_default_and_not_advertised(store: TokenStore) -> None:
    async with open_harness(store) as harness:
        response = await register(harness, MCP)
        meta = (await harness.http.get("/oauth/.well-known/oauth-authorization-server")).json()
    assert response.status_code == 404
    assert "registration_endpoint" not in meta
    assert await store.count_dynamic_clients() == 0


@pytest.mark.rule("registration.policy", "registration.management", "rest.no-raw-secrets")
async def test_open_registration_creates_a_dynamic_public_client(
    harness: Harness, store: TokenStore
) -> None:
    meta = (await harness.http.get("/oauth/.well-known/oauth-authorization-server")).json()
    assert meta["registration_endpoint"] == "https://testserver/oauth/register/"
    response = await register(harness, MCP)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    client_id, token = body["client_id"], body["registration_access_token"]
    assert "client_secret" not in body and "client_secret_expires_at" not in body
    assert body["registration_client_uri"] == f"https://testserver/oauth/register/{client_id}"
    assert {k: body[k] for k in MCP} == MCP
    assert isinstance(body["client_id_issued_at"], int)
    client = await store.get_client(client_id)
    assert client is not None and client.dynamic and client.public
    assert client.title == "Claude Desktop" and client.redirect_uris == (LOOPBACK,)
    assert client.registration_token_hash == digest(token)
    assert token not in repr(client)
    redis = redis_of(store)
    for key in await redis.keys("*"):
        if await redis.type(key) in (b"string", "string"):
            assert token not in str(await redis.get(key))
    assert await store.count_dynamic_clients() == 1


@pytest.mark.rule("registration.policy")
@pytest.mark.parametrize(("change", "error"), [
    ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
    ({"redirect_uris": ["https://attacker.example/cb"]}, "invalid_redirect_uri"),
    ({"grant_types": ["client_credentials"], "response_types": []}, "invalid_client_metadata"),
])
async def test_open_registration_refuses_what_is_not_a_public_native_client(
    harness: Harness, store: TokenStore, change: dict[str, Any], error: str
) -> None:
    assert_refused(await register(harness, {**MCP, **change}), 400, error)
    assert await store.count_dynamic_clients() == 0


@pytest.mark.rule("registration.policy")
async def test_open_registration_takes_a_private_use_scheme_and_defaults_to_none(
    harness: Harness
) -> None:
    response = await register(harness, {"redirect_uris": ["com.example.app:/cb"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_endpoint_auth_method"] == "none"
    assert body["grant_types"] == ["authorization_code"] and body["response_types"] == ["code"]


@pytest.mark.rule("registration.policy")
async def test_gated_registration_needs_the_initial_access_token(store: TokenStore) -> None:
    policy = RegistrationPolicy(initial_access_token=INITIAL)
    async with open_harness(store, registration=policy) as harness:
        missing = await register(harness, MCP)
        wrong = await register(harness, MCP, authorization="Bearer " + INITIAL[:-1] + "x")
        right = await harness.http.post(REGISTER, json={
            "redirect_uris": ["https://client.example/cb"], "client_name": "Web",
            "token_endpoint_auth_method": "client_secret_post"},
            headers={"authorization": f"Bearer {INITIAL}"})
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert_refused(wrong, 401, "invalid_token")
    assert wrong.headers["www-authenticate"].startswith('Bearer realm="oauth"')
    assert right.status_code == 201, right.text
    body = right.json()
    assert body["client_secret_expires_at"] == 0
    client = await store.get_client(body["client_id"])
    assert client is not None and not client.public and client.dynamic
    assert client.secret_hash is not None and body["client_secret"] not in client.secret_hash
    assert await store.count_dynamic_clients() == 1


@pytest.mark.rule("registration.policy")
async def test_gated_registration_accepts_a_callable_judging_the_token(store: TokenStore) -> None:
    seen: list[str] = []

    async def judge(token: str) -> bool:
        seen.append(token)
        return token == "team-token"

    async with open_harness(store, registration=RegistrationPolicy(
            initial_access_token=judge)) as harness:
        ok = await register(harness, MCP, authorization="Bearer team-token")
        refused = await register(harness, MCP, authorization="Bearer other")
    assert ok.status_code == 201 and seen == ["team-token", "other"]
    assert_refused(refused, 401, "invalid_token")


def test_a_short_initial_access_token_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        RegistrationPolicy(initial_access_token="short")


@pytest.mark.rule("registration.metadata")
@pytest.mark.parametrize(("change", "error"), [
    ({"redirect_uris": ["http://127.0.0.1/cb#frag"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri"),
    ({"redirect_uris": ["notauri"]}, "invalid_redirect_uri"),
    ({"redirect_uris": []}, "invalid_redirect_uri"),
    ({"redirect_uris": "http://127.0.0.1/cb"}, "invalid_redirect_uri"),
    ({"redirect_uris": [LOOPBACK] * 21}, "invalid_redirect_uri"),
    ({"redirect_uris": None}, "invalid_redirect_uri"),
    ({"grant_types": ["authorization_code"], "response_types": ["token"]},
     "invalid_client_metadata"),
    ({"grant_types": ["refresh_token"], "response_types": ["code"]}, "invalid_client_metadata"),
    ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
    ({"client_name": "Evil\x1b]0;pwned\x07"}, "invalid_client_metadata"),
    ({"client_name": "Trojan \u202e"}, "invalid_client_metadata"),
    ({"client_name": "x" * 201}, "invalid_client_metadata"),
    ({"client_name": 42}, "invalid_client_metadata"),
    ({"logo_uri": "http://logo.example/x.png"}, "invalid_client_metadata"),
    ({"client_uri": "javascript:alert(1)"}, "invalid_client_metadata"),
    ({"policy_uri": "https://"}, "invalid_client_metadata"),
    ({"tos_uri": "ftp://tos.example/"}, "invalid_client_metadata"),
    ({"scope": "polls:read unknown"}, "invalid_client_metadata"),
    ({"scope": "polls:secret"}, "invalid_client_metadata"),
    ({"scope": ["polls:read"]}, "invalid_client_metadata"),
    ({"token_endpoint_auth_method": "private_key_jwt"}, "invalid_client_metadata"),
])
async def test_invalid_metadata_is_refused_naming_the_rfc_7591_error(
    harness: Harness, store: TokenStore, change: dict[str, Any], error: str
) -> None:
    body = assert_refused(await register(harness, {**MCP, **change}), 400, error)
    for value in change.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in body["error_description"]
    assert await store.count_dynamic_clients() == 0


@pytest.mark.rule("registration.metadata")
async def test_links_scopes_and_a_software_statement_are_kept_or_dropped_as_documented(
    harness: Harness, store: TokenStore
) -> None:
    response = await register(harness, {
        **MCP, "client_uri": "https://client.example/", "logo_uri": "https://client.example/l",
        "software_statement": "eyJhbGciOiJub25lIn0.e30.", "contacts": ["a@example.com"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["client_uri"] == "https://client.example/"
    assert "software_statement" not in body and "logo_uri" not in body
    client = await store.get_client(body["client_id"])
    assert client is not None and client.link == "https://client.example/"
    assert client.scopes == ("polls:read",)


@pytest.mark.rule("registration.metadata")
@pytest.mark.parametrize(("content", "status", "error"), [
    (b"[1, 2]", 400, "invalid_client_metadata"),
    (b'"just a string"', 400, "invalid_client_metadata"),
    (b"{not json", 400, "invalid_client_metadata"),
    (b'{"redirect_uris": ["http://127.0.0.1/a"], "redirect_uris": ["com.evil.app:/b"]}',
     400, "invalid_client_metadata"),
    (b'{"client_name": "caf\xe9"}', 400, "invalid_client_metadata"),
    (b"[" * 100_000, 413, "invalid_request"),
    (b"[" * 10_000, 400, "invalid_client_metadata"),
    (b'{"client_name": "' + b"a" * 20_000 + b'"}', 413, "invalid_request"),
])
async def test_odd_bodies_are_refused_never_a_500(
    harness: Harness, store: TokenStore, content: bytes, status: int, error: str
) -> None:
    response = await harness.http.post(REGISTER, content=content,
                                       headers={"content-type": "application/json"})
    assert_refused(response, status, error)
    assert await store.count_dynamic_clients() == 0


@pytest.mark.rule("registration.metadata")
async def test_a_form_body_or_a_wrong_method_is_refused(harness: Harness) -> None:
    form = await harness.http.post(REGISTER, data={"redirect_uris": LOOPBACK})
    assert_refused(form, 400, "invalid_request")
    get = await harness.http.get(REGISTER)
    assert_refused(get, 405, "invalid_request")
    assert get.headers["allow"] == "POST"
