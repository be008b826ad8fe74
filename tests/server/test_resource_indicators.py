"""RFC 8707 resource indicators at the authorization server, end to end to the middleware.

The code flow runs through the mounted server (``auth/``, consent, ``token/``); the
tokens it issues are then presented to apps protected by ``OAuthMiddleware(resource=…)``,
so the audience the server records is the one the resource server checks.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from oauth_middleware import OAuthMiddleware, TokenStore
from oauth_middleware.security import digest, pkce_s256
from oauth_middleware.server import AuthorizationServer
from oauth_middleware.settings_checks import ConfigurationError
from oauth_middleware.toolbox import RegisteredClient, register_client
from tests.server.authorize_harness import (
    CHALLENGE,
    SPA_REDIRECT,
    USER_HEADER,
    VERIFIER,
    Harness,
    answer,
    assert_page,
    open_harness,
    read_page,
)
from tests.server.token_harness import (
    INTROSPECT_PATH,
    TOKEN_PATH,
    assert_error,
    auth_of,
    build_app,
    code_form,
    confidential,
    http,
    new_code,
)
from tests.store_helpers import get_code, get_refresh, redis_of

MCP = "https://mcp.example/mcp"
OTHER = "https://other.example/api"
THIRD = "https://third.example/"
Fields = dict[str, str | list[str]]


@pytest.fixture
async def harness(store: TokenStore) -> AsyncIterator[Harness]:
    async with open_harness(store) as h:
        yield h


async def _ok(request: Any) -> PlainTextResponse:
    return PlainTextResponse("ok")


async def at_resource(store: TokenStore, resource: str, token: str) -> httpx.Response:
    """GET the protected route of an app that is ``resource``, with ``token``."""
    parts = urlsplit(resource)
    app = Starlette(routes=[Route(parts.path, _ok)])
    app.add_middleware(OAuthMiddleware, store=store, scopes={parts.path: []}, resource=resource)
    async with http(app, base_url=f"{parts.scheme}://{parts.netloc}") as client:
        return await client.get(parts.path, headers={"Authorization": f"Bearer {token}"})


def assert_refused_for_audience(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge and "resource_metadata=" in challenge


async def raw_access(store: TokenStore, token: str) -> dict[str, Any]:
    """The access-token record as stored (to see which keys it has)."""
    record = await store.resolve(token)
    assert record is not None
    raw = await redis_of(store).get(store.keys.access(record.grant_id, digest(token)))
    assert raw is not None
    loaded: dict[str, Any] = json.loads(raw)
    return loaded


def _auth_params(resources: Sequence[str]) -> Fields:
    return {"client_id": "spa", "redirect_uri": SPA_REDIRECT, "response_type": "code",
            "scope": "polls:read", "state": "st", "code_challenge": pkce_s256(VERIFIER),
            "code_challenge_method": "S256", "resource": list(resources)}


async def authorize(h: Harness, resources: Sequence[str]) -> httpx.Response:
    return await h.http.get("/oauth/auth/", params=_auth_params(resources),
                            headers={USER_HEADER: "alice"})


async def approved_code(h: Harness, resources: Sequence[str]) -> str:
    """The code of an approved request of the public client ``spa`` for ``resources``."""
    response = await authorize(h, resources)
    assert response.status_code == 200, response.text
    _, _, params = answer(await h.decide(read_page(response.text)))
    return params["code"]


async def redeem(h: Harness, code: str, resources: Sequence[str] = ()) -> httpx.Response:
    data: Fields = {"grant_type": "authorization_code", "code": code, "client_id": "spa",
                    "redirect_uri": SPA_REDIRECT, "code_verifier": VERIFIER,
                    "resource": list(resources)}
    return await h.http.post(TOKEN_PATH, data=data)


async def refresh(h: Harness, token: str, resources: Sequence[str] = ()) -> httpx.Response:
    data: Fields = {"grant_type": "refresh_token", "refresh_token": token, "client_id": "spa",
                    "resource": list(resources)}
    return await h.http.post(TOKEN_PATH, data=data)


async def audience(store: TokenStore, body: dict[str, Any]) -> frozenset[str]:
    record = await store.resolve(body["access_token"])
    assert record is not None
    return record.audience


# --- the code flow, end to end -----------------------------------------------------------

@pytest.mark.rule("token.resource.bound", "resource.audience")
async def test_a_code_for_one_resource_gives_a_token_accepted_there_and_refused_elsewhere(
    harness: Harness, store: TokenStore
) -> None:
    code = await approved_code(harness, [MCP])
    code_record = await get_code(store, code)
    assert code_record is not None and code_record.audience == {MCP}
    response = await redeem(harness, code)
    assert response.status_code == 200, response.text
    body = response.json()
    assert await audience(store, body) == {MCP}
    assert (await raw_access(store, body["access_token"]))["audience"] == MCP
    refresh_record = await get_refresh(store, body["refresh_token"])
    assert refresh_record is not None and refresh_record.audience == {MCP}
    assert (await at_resource(store, MCP, body["access_token"])).text == "ok"
    assert_refused_for_audience(await at_resource(store, OTHER, body["access_token"]))


@pytest.mark.rule("token.resource.bound", "resource.audience")
async def test_a_code_for_two_resources_gives_a_token_for_both_and_no_third(
    harness: Harness, store: TokenStore
) -> None:
    response = await redeem(harness, await approved_code(harness, [MCP, OTHER]))
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    assert await audience(store, response.json()) == {MCP, OTHER}
    assert (await at_resource(store, MCP, token)).status_code == 200
    assert (await at_resource(store, OTHER, token)).status_code == 200
    assert_refused_for_audience(await at_resource(store, THIRD, token))


@pytest.mark.rule("token.resource.bound")
async def test_redemption_and_refresh_may_narrow_and_the_refresh_token_keeps_the_grant(
    harness: Harness, store: TokenStore
) -> None:
    response = await redeem(harness, await approved_code(harness, [MCP, OTHER]), [MCP])
    assert response.status_code == 200, response.text
    first = response.json()
    assert await audience(store, first) == {MCP}
    assert_refused_for_audience(await at_resource(store, OTHER, first["access_token"]))
    record = await get_refresh(store, first["refresh_token"])
    assert record is not None and record.audience == {MCP, OTHER}
    narrowed = await refresh(harness, first["refresh_token"], [OTHER])
    assert narrowed.status_code == 200, narrowed.text
    assert await audience(store, narrowed.json()) == {OTHER}
    whole = await refresh(harness, narrowed.json()["refresh_token"])
    assert whole.status_code == 200, whole.text
    assert await audience(store, whole.json()) == {MCP, OTHER}


@pytest.mark.rule("token.resource.bound", "token.resource.invalid-target")
async def test_redeeming_for_a_resource_not_authorized_is_invalid_target_and_consumes_nothing(
    harness: Harness, store: TokenStore
) -> None:
    code = await approved_code(harness, [MCP])
    body = assert_error(await redeem(harness, code, [MCP, OTHER]), 400, "invalid_target")
    assert "not authorized" in body["error_description"]
    record = await get_code(store, code)
    assert record is not None and not record.used
    response = await redeem(harness, code, [MCP])
    assert response.status_code == 200, response.text
    assert await audience(store, response.json()) == {MCP}


@pytest.mark.rule("token.resource.bound", "token.resource.invalid-target")
async def test_a_refresh_cannot_widen_the_resources_and_its_token_survives_the_attempt(
    harness: Harness, store: TokenStore
) -> None:
    response = await redeem(harness, await approved_code(harness, [MCP]))
    token = response.json()["refresh_token"]
    assert_error(await refresh(harness, token, [OTHER]), 400, "invalid_target")
    record = await get_refresh(store, token)
    assert record is not None and not record.rotated
    again = await refresh(harness, token)
    assert again.status_code == 200, again.text
    assert await audience(store, again.json()) == {MCP}


@pytest.mark.rule("token.resource.invalid-target")
@pytest.mark.parametrize("resources", [
    ["/mcp"], ["mcp.example/mcp"], [MCP + "#top"], ["https://mcp.example/" + "a" * 2100],
    ["https://mcp.example/a b"], ["https://mcp.example/\u00e9"], ["https://"], [MCP, MCP],
    [f"https://r{i}.example/" for i in range(9)],
], ids=["relative", "no-scheme", "fragment", "huge", "space", "non-ascii", "no-host",
        "duplicated", "nine"])
async def test_a_malformed_resource_at_auth_is_invalid_target_and_stores_nothing(
    harness: Harness, resources: list[str]
) -> None:
    base, where, params = answer(await authorize(harness, resources))
    assert (base, where) == (SPA_REDIRECT, "query")
    assert params["error"] == "invalid_target" and params["state"] == "st"
    assert await harness.code_keys() == []
    pending = await redis_of(harness.store).keys(f"{harness.store.keys.prefix}txn:*")
    assert pending == []


@pytest.mark.rule("token.resource.invalid-target")
async def test_a_control_character_in_a_resource_is_invalid_request(harness: Harness) -> None:
    response = await harness.authorize_raw(
        "client_id=spa&response_type=code&code_challenge=" + CHALLENGE
        + "&code_challenge_method=S256&resource=https%3A%2F%2Fmcp.example%2F%0Ax")
    page = assert_page(response, 400)
    assert "invalid_request" in page.text
    assert await harness.code_keys() == []


# --- client credentials: resources taken directly -----------------------------------------

@pytest.fixture
def app(store: TokenStore) -> Starlette:
    return build_app(store)


async def cc(client: httpx.AsyncClient, registered: RegisteredClient,
             resources: Sequence[str] = ()) -> httpx.Response:
    data: Fields = {"grant_type": "client_credentials", "resource": list(resources)}
    return await client.post(TOKEN_PATH, data=data, headers=auth_of(registered))


@pytest.mark.rule("token.resource.invalid-target")
@pytest.mark.parametrize("resources", [
    ["/mcp"], [MCP + "#top"], ["https://mcp.example/" + "a" * 2100], [MCP, MCP],
    [f"https://r{i}.example/" for i in range(9)], ["https://mcp.example/a b"],
], ids=["relative", "fragment", "huge", "duplicated", "nine", "space"])
async def test_a_malformed_resource_at_token_is_invalid_target_and_issues_nothing(
    app: Starlette, store: TokenStore, resources: list[str]
) -> None:
    machine = await confidential(store, "machine", grant_types=["client_credentials"])
    async with http(app) as client:
        assert_error(await cc(client, machine, resources), 400, "invalid_target")
    assert await redis_of(store).keys(f"{store.keys.prefix}at:*") == []


@pytest.mark.rule("token.resource.invalid-target")
async def test_a_control_character_in_a_resource_at_token_is_invalid_request(
    app: Starlette, store: TokenStore
) -> None:
    machine = await confidential(store, "machine", grant_types=["client_credentials"])
    async with http(app) as client:
        response = await client.post(
            TOKEN_PATH, content=b"grant_type=client_credentials&resource=https%3A%2F%2Fa%2F%00",
            headers={**auth_of(machine),
                     "content-type": "application/x-www-form-urlencoded"})
    assert_error(response, 400, "invalid_request")


@pytest.mark.rule("token.resource.invalid-target", "token.resource.defaults")
async def test_a_client_gets_only_its_registered_resources_and_them_by_default(
    app: Starlette, store: TokenStore
) -> None:
    machine = await confidential(store, "machine", grant_types=["client_credentials"],
                                 resources=[MCP, OTHER])
    async with http(app) as client:
        body = assert_error(await cc(client, machine, [THIRD]), 400, "invalid_target")
        assert "may not use" in body["error_description"]
        assert_error(await cc(client, machine, [MCP, THIRD]), 400, "invalid_target")
        one = await cc(client, machine, [OTHER])
        default = await cc(client, machine)
    assert await audience(store, one.json()) == {OTHER}
    assert await audience(store, default.json()) == {MCP, OTHER}


@pytest.mark.rule("token.resource.invalid-target")
async def test_at_auth_a_resource_the_client_may_not_use_is_invalid_target(
    harness: Harness, store: TokenStore
) -> None:
    await register_client(store, "Tool", "tool", SPA_REDIRECT, resources=[MCP],
                          scopes_list=["polls:read"], register_unknown_scopes=False)
    params = {**_auth_params([OTHER]), "client_id": "tool"}
    response = await harness.http.get("/oauth/auth/", params=params,
                                      headers={USER_HEADER: "alice"})
    _, _, answered = answer(response)
    assert answered["error"] == "invalid_target"
    assert await harness.code_keys() == []


@pytest.mark.rule("token.resource.defaults")
async def test_the_server_default_resource_is_the_audience_of_clients_naming_none(
    store: TokenStore
) -> None:
    machine = await confidential(store, "machine", grant_types=["client_credentials"])
    async with http(build_app(store, default_resource=MCP)) as client:
        default = await cc(client, machine)
        named = await cc(client, machine, [OTHER])
    assert await audience(store, default.json()) == {MCP}
    assert await audience(store, named.json()) == {OTHER}
    async with http(build_app(store)) as client:
        none = await cc(client, machine)
    assert await audience(store, none.json()) == frozenset()
    assert "audience" not in await raw_access(store, none.json()["access_token"])


async def test_a_default_resource_or_client_resource_that_is_no_absolute_uri_is_refused(
    store: TokenStore
) -> None:
    with pytest.raises((ValueError, ConfigurationError), match="default_resource"):
        AuthorizationServer(store=store, issuer="https://a.example/oauth",
                            secret_key=b"k" * 32, default_resource="/mcp")
    with pytest.raises(ConfigurationError, match="default_resource"):
        AuthorizationServer(store=store, issuer="https://a.example/oauth",
                            secret_key=b"k" * 32, default_resource=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="absolute URI"):
        await register_client(store, "Tool", "tool", SPA_REDIRECT, resources=[MCP + "#x"])
    assert await store.get_client("tool") is None


# --- introspection, and records from before ------------------------------------------------

@pytest.mark.rule("introspect.aud")
async def test_introspection_answers_aud_as_a_string_or_an_array(
    app: Starlette, store: TokenStore
) -> None:
    machine = await confidential(store, "machine", grant_types=["client_credentials"])
    async with http(app) as client:
        answers = []
        for resources in ([MCP], [OTHER, MCP], []):
            token = (await cc(client, machine, resources)).json()["access_token"]
            response = await client.post(INTROSPECT_PATH, data={"token": token},
                                         headers=auth_of(machine))
            assert response.status_code == 200 and response.json()["active"] is True
            answers.append(response.json())
    assert answers[0]["aud"] == MCP
    assert answers[1]["aud"] == [MCP, OTHER]
    assert "aud" not in answers[2]


@pytest.mark.rule("token.resource.bound")
async def test_a_code_stored_without_audience_still_redeems_and_names_no_resource(
    app: Starlette, store: TokenStore, web: RegisteredClient
) -> None:
    code = await new_code(store, "web")
    record = await get_code(store, code)
    assert record is not None
    raw = await redis_of(store).get(store.keys.code(record.grant_id, digest(code)))
    assert raw is not None and "audience" not in json.loads(raw)
    async with http(app) as client:
        refused = await client.post(TOKEN_PATH, data=code_form(code, resource=MCP),
                                    headers=auth_of(web))
        assert_error(refused, 400, "invalid_target")
        response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(web))
        assert response.status_code == 200, response.text
        renewed = await client.post(TOKEN_PATH, headers=auth_of(web), data={
            "grant_type": "refresh_token", "refresh_token": response.json()["refresh_token"]})
    assert renewed.status_code == 200, renewed.text
    assert await audience(store, renewed.json()) == frozenset()
    assert (await at_resource(store, MCP, renewed.json()["access_token"])).status_code == 200


@pytest.mark.rule("token.resource.bound")
async def test_the_consent_page_names_the_resources_and_an_implicit_token_carries_them(
    harness: Harness, store: TokenStore
) -> None:
    params = {**_auth_params([OTHER, MCP]), "response_type": "token"}
    response = await harness.http.get("/oauth/auth/", params=params,
                                      headers={USER_HEADER: "alice"})
    page = assert_page(response, 200)
    assert f"Only at: {MCP}, {OTHER}" in page.text
    _, where, answered = answer(await harness.decide(page))
    assert where == "fragment"
    record = await store.resolve(answered["access_token"])
    assert record is not None and record.audience == {MCP, OTHER}
    assert_refused_for_audience(await at_resource(store, THIRD, answered["access_token"]))


async def _check_password(username: str, password: str) -> str | None:
    return "user-alice" if (username, password) == ("alice", "pw-alice") else None


@pytest.mark.rule("token.resource.invalid-target", "token.resource.bound")
async def test_the_password_grant_takes_resources_and_refuses_a_bad_one_before_the_password(
    store: TokenStore
) -> None:
    calls: list[str] = []

    async def verify(username: str, password: str) -> str | None:
        calls.append(username)
        return await _check_password(username, password)

    pw = await confidential(store, "pw", grant_types=["password"], resources=[MCP])
    form = {"grant_type": "password", "username": "alice", "password": "pw-alice"}
    async with http(build_app(store, verify_password=verify)) as client:
        refused = await client.post(TOKEN_PATH, data={**form, "resource": OTHER},
                                    headers=auth_of(pw))
        assert_error(refused, 400, "invalid_target")
        assert calls == []
        issued = await client.post(TOKEN_PATH, data={**form, "resource": MCP},
                                   headers=auth_of(pw))
    assert issued.status_code == 200, issued.text
    assert calls == ["alice"]
    assert await audience(store, issued.json()) == {MCP}


@pytest.mark.rule("token.resource.defaults")
async def test_a_grant_from_before_gets_the_audience_its_client_is_now_limited_to(
    app: Starlette, store: TokenStore
) -> None:
    tool = await confidential(store, "tool", resources=[MCP])
    code = await new_code(store, "tool")
    async with http(app) as client:
        response = await client.post(TOKEN_PATH, data=code_form(code), headers=auth_of(tool))
    assert response.status_code == 200, response.text
    assert await audience(store, response.json()) == {MCP}
    refresh_record = await get_refresh(store, response.json()["refresh_token"])
    assert refresh_record is not None and refresh_record.audience == frozenset()
