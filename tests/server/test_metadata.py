"""Authorization server metadata (RFC 8414): required fields, real URLs, config-driven content."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from oauth_middleware.models import Scope
from oauth_middleware.server import METADATA_PATH, AuthorizationServer
from oauth_middleware.store import TokenStore
from tests.server.token_harness import (
    ISSUER,
    METADATA_URL,
    SECRET_KEY,
    assert_error,
    assert_invalid_client,
    assert_no_store,
    build_app,
    http,
)

#: RFC 8414 §2: REQUIRED (authorization and token endpoints: unless no grant uses them).
REQUIRED = {"issuer", "authorization_endpoint", "token_endpoint", "response_types_supported"}


async def _metadata(app: Starlette, url: str = METADATA_URL, **headers: str) -> dict[str, object]:
    async with http(app) as client:
        response = await client.get(url, headers=headers)
    assert response.status_code == 200
    assert_no_store(response)
    body: dict[str, object] = response.json()
    return body


@pytest.mark.rule("metadata.document", "auth.pkce.metadata", "transport.configured-urls")
async def test_metadata_has_the_rfc_8414_fields_from_the_configured_issuer(
    store: TokenStore,
) -> None:
    doc = await _metadata(build_app(store), Host="evil.example")
    assert set(doc) >= REQUIRED
    assert doc["issuer"] == ISSUER
    assert doc["authorization_endpoint"] == f"{ISSUER}/auth/"
    assert doc["token_endpoint"] == f"{ISSUER}/token/"
    assert doc["revocation_endpoint"] == f"{ISSUER}/revoke/"
    assert doc["introspection_endpoint"] == f"{ISSUER}/introspect/"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "none"]
    assert doc["revocation_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "none"]
    assert doc["introspection_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post"]
    assert "evil.example" not in str(doc)


@pytest.mark.rule("metadata.document")
async def test_metadata_urls_point_at_the_real_endpoints(store: TokenStore) -> None:
    app = build_app(store)
    doc = await _metadata(app)
    async with http(app) as client:
        for field in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
            url = str(doc[field])
            assert url.startswith("https://auth.example/oauth/")
            assert_invalid_client(await client.post(urlsplit(url).path, data={
                "token": "x", "grant_type": "client_credentials"}))
        auth = await client.get(urlsplit(str(doc["authorization_endpoint"])).path)
        assert auth.status_code != 404


@pytest.mark.rule("metadata.document")
async def test_grant_and_response_types_follow_the_server_switches(store: TokenStore) -> None:
    everything = await _metadata(build_app(store, verify_password=lambda u, p: None))
    assert everything["grant_types_supported"] == [
        "authorization_code", "client_credentials", "implicit", "password", "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code"]
    assert everything["response_types_supported"] == ["code", "token"]
    assert everything["response_modes_supported"] == ["query", "fragment"]
    code_only = await _metadata(build_app(store, grants=["authorization_code", "refresh_token"]))
    assert code_only["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert code_only["response_types_supported"] == ["code"]
    no_hook = await _metadata(build_app(store))
    assert "password" not in no_hook["grant_types_supported"]  # type: ignore[operator]


@pytest.mark.rule("metadata.document")
async def test_scopes_supported_lists_only_enabled_scopes(store: TokenStore) -> None:
    for scope in (Scope("read", "Read"), Scope("write", "Write"), Scope("old", enabled=False)):
        await store.save_scope(scope)
    doc = await _metadata(build_app(store))
    assert doc["scopes_supported"] == ["read", "write"]


@pytest.mark.rule("metadata.document")
async def test_metadata_can_be_served_at_the_host_root(store: TokenStore) -> None:
    """RFC 8414 §3.1: for issuer https://host/oauth the document lives at
    /.well-known/oauth-authorization-server/oauth on the host."""
    server = AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY)
    assert server.metadata_path == f"{METADATA_PATH}/oauth"
    app = Starlette(routes=[
        Route(server.metadata_path, server.metadata_endpoint),
        Mount("/oauth", server),
    ])
    root = await _metadata(app, f"{METADATA_PATH}/oauth")
    assert root == await _metadata(app, METADATA_URL)
    assert root["issuer"] == ISSUER


@pytest.mark.parametrize(("issuer", "path"), [
    ("https://api.example", METADATA_PATH),
    ("https://api.example/", METADATA_PATH),
    ("https://api.example/tenant/oauth/", f"{METADATA_PATH}/tenant/oauth"),
])
def test_metadata_path_inserts_the_issuer_path_after_the_well_known_prefix(
    store: TokenStore, issuer: str, path: str
) -> None:
    server = AuthorizationServer(store=store, issuer=issuer, secret_key=SECRET_KEY)
    assert server.metadata_path == path


@pytest.mark.rule("transport.https")
async def test_metadata_answers_head_and_refuses_plain_http(store: TokenStore) -> None:
    app = build_app(store)
    async with http(app) as client:
        head = await client.head(METADATA_URL)
    assert head.status_code == 200 and head.content == b""
    async with http(app, "http://testserver") as plain:
        response = await plain.get(METADATA_URL)
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize("method", ["POST", "PUT"])
@pytest.mark.rule("metadata.document")
async def test_metadata_is_read_only(store: TokenStore, method: str) -> None:
    async with http(build_app(store)) as client:
        response = await client.request(method, METADATA_URL)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert_no_store(response)
    assert response.json()["error"] == "invalid_request"
