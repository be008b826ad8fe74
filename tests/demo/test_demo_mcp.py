"""The demo's MCP server, driven by the official ``mcp`` SDK client over real uvicorn.

From nothing but ``<demo>/mcp`` the SDK's ``OAuthClientProvider`` gets the 401, reads
the protected-resource metadata (RFC 9728) and the authorization server's (RFC 8414),
registers itself (RFC 7591), runs code + PKCE with ``resource`` (RFC 8707) while the
test's person logs in and approves over HTTP, then calls both tools. The demo runs on
the suite's redis-server and on its embedded store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from mcp_types import TextContent

from tests.demo.harness import DEMO_DB, WEB_SECRET, Demo
from tests.demo.mcp_client import MemoryStorage, Person, mcp_session, provider
from tests.redis_process import RedisProcess
from tests.servers import DemoProcess

_ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
_INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "raw", "version": "1"}}}


@pytest.fixture(params=["redis", "embedded"])
def any_demo(request: pytest.FixtureRequest) -> Iterator[Demo]:
    """The demo on the suite's redis-server, then on its embedded store."""
    if request.param == "redis":
        server: RedisProcess = request.getfixturevalue("redis_server")
        redis_url = server.url.rsplit("/", 1)[0] + f"/{DEMO_DB}"
        process = DemoProcess(env={"REDIS_URL": redis_url, "DEMO_CLIENT_SECRET": WEB_SECRET})
    else:
        redis_url = ""
        process = DemoProcess(env={"DEMO_CLIENT_SECRET": WEB_SECRET}, unset=("REDIS_URL",))
    with process:
        yield Demo(process, redis_url)


def _result(answer: Any) -> dict[str, Any]:
    assert answer.is_error is False, answer
    text = answer.content[0]
    assert isinstance(text, TextContent)
    found: dict[str, Any] = json.loads(text.text)
    return found


async def _token(demo: Demo, **form: str) -> str:
    """A token of demo-web (confidential) from the token endpoint."""
    async with httpx.AsyncClient(base_url=demo.url) as http:
        issued = await http.post("/oauth/token/", data=form, auth=("demo-web", WEB_SECRET))
    assert issued.status_code == 200, issued.text
    token: str = issued.json()["access_token"]
    return token


async def test_the_sdk_client_registers_authorizes_and_calls_both_tools(any_demo: Demo) -> None:
    demo, person, storage = any_demo, Person(any_demo.url, "alice"), MemoryStorage()
    async with mcp_session(demo.url, provider(demo.url, person, storage)) as session:
        before = _result(await session.call_tool("poll_results", {"poll_id": 1}))
        voted = _result(await session.call_tool("vote", {"poll_id": 1, "choice": "header"}))
        after = _result(await session.call_tool("poll_results", {"poll_id": 1}))
    assert voted == {"poll": 1, "voted": "header", "by": "alice"}
    assert after["results"]["header"] == before["results"]["header"] + 1
    # what the SDK did on its own: register, then code + PKCE S256 bound to the resource
    assert storage.client_info is not None and storage.client_info.client_id
    [url] = person.authorization_urls
    query = parse_qs(urlsplit(url).query)
    assert query["resource"] == [f"{demo.url}/mcp"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["client_id"] == [storage.client_info.client_id]
    assert set(query["scope"][0].split()) == {"polls:results", "polls:vote"}
    assert "Unverified application" in person.consent_texts[0]
    assert storage.tokens is not None and storage.tokens.refresh_token
    # the vote is the demo's own state: its REST API counts it too
    async with httpx.AsyncClient(base_url=demo.url) as http:
        rest = await http.get("/polls/1/results", headers={
            "Authorization": f"Bearer {storage.tokens.access_token}"})
    assert rest.status_code == 200 and rest.json()["results"] == after["results"]


async def test_a_tool_refuses_a_token_without_its_scope(any_demo: Demo) -> None:
    demo = any_demo
    person, storage = Person(demo.url, "bob", scopes=["polls:results"]), MemoryStorage()
    async with mcp_session(demo.url, provider(demo.url, person, storage)) as session:
        refused = await session.call_tool("vote", {"poll_id": 2, "choice": "1 minute"})
        results = _result(await session.call_tool("poll_results", {"poll_id": 2}))
    assert refused.is_error is True
    assert [c.text for c in refused.content if isinstance(c, TextContent)] == [
        "Error executing tool vote: insufficient_scope: this tool needs the polls:vote scope"]
    assert results["results"] == {"1 minute": 0, "10 minutes": 0, "a day": 0}
    assert storage.tokens is not None and storage.tokens.scope == "polls:results"


@pytest.mark.parametrize("resource", ["https://elsewhere.example/mcp", None])
async def test_mcp_refuses_a_token_meant_for_another_resource_or_none(
    demo: Demo, resource: str | None
) -> None:
    form = {"grant_type": "client_credentials", "scope": "polls:results"}
    foreign = await _token(demo, **form, **({"resource": resource} if resource else {}))
    own = await _token(demo, **form, resource=f"{demo.url}/mcp")
    async with httpx.AsyncClient(base_url=demo.url) as http:
        refused = await http.post("/mcp", json=_INITIALIZE,
                                  headers={**_ACCEPT, "Authorization": f"Bearer {foreign}"})
        accepted = await http.post("/mcp", json=_INITIALIZE,
                                   headers={**_ACCEPT, "Authorization": f"Bearer {own}"})
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{demo.url}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert refused.json()["error"] == "invalid_token"
    assert accepted.status_code == 200 and accepted.headers["mcp-session-id"]


async def test_a_session_id_is_refused_to_another_tokens_holder(demo: Demo) -> None:
    def password(user: str) -> dict[str, str]:
        return {"grant_type": "password", "username": user, "password": f"{user}-password",
                "scope": "polls:results polls:vote", "resource": f"{demo.url}/mcp"}

    alice, bob = await _token(demo, **password("alice")), await _token(demo, **password("bob"))
    async with httpx.AsyncClient(base_url=demo.url) as http:
        opened = await http.post("/mcp", json=_INITIALIZE,
                                 headers={**_ACCEPT, "Authorization": f"Bearer {alice}"})
        session = opened.headers["mcp-session-id"]
        ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
        as_bob = await http.post("/mcp", json=ping, headers={
            **_ACCEPT, "Authorization": f"Bearer {bob}", "mcp-session-id": session,
            "mcp-protocol-version": "2025-06-18"})
        as_alice = await http.post("/mcp", json=ping, headers={
            **_ACCEPT, "Authorization": f"Bearer {alice}", "mcp-session-id": session,
            "mcp-protocol-version": "2025-06-18"})
    assert opened.status_code == 200
    assert as_bob.status_code == 404 and "Session not found" in as_bob.text
    assert as_alice.status_code == 200 and '"id":2' in as_alice.text.replace(" ", "")


@pytest.mark.parametrize("redirect_uri", ["https://evil.example/cb", "http://evil.example/cb",
                                          "http://127.0.0.1:8/cb#frag"])
async def test_open_registration_refuses_a_redirect_uri_off_this_machine(
    demo: Demo, redirect_uri: str
) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as http:
        refused = await http.post("/oauth/register/", json={
            "client_name": "Evil", "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "none"})
        listed = await http.get("/.well-known/oauth-authorization-server/oauth")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_redirect_uri"
    assert refused.headers["cache-control"] == "no-store"
    assert redirect_uri not in refused.text
    assert listed.json()["registration_endpoint"] == f"{demo.url}/oauth/register/"


async def test_the_mcp_metadata_names_the_issuer_and_the_tool_scopes(demo: Demo) -> None:
    async with httpx.AsyncClient(base_url=demo.url) as http:
        refused = await http.post("/mcp", json=_INITIALIZE, headers=_ACCEPT)
        found = await http.get("/.well-known/oauth-protected-resource/mcp")
    assert refused.status_code == 401
    metadata = f"{demo.url}/.well-known/oauth-protected-resource/mcp"
    assert refused.headers["www-authenticate"] == (
        f'Bearer realm="api", resource_metadata="{metadata}"')
    assert found.status_code == 200
    assert found.json() == {
        "resource": f"{demo.url}/mcp", "authorization_servers": [f"{demo.url}/oauth"],
        "scopes_supported": ["polls:results", "polls:vote"],
        "bearer_methods_supported": ["header"], "resource_name": "Demo polls (MCP)",
        "dpop_signing_alg_values_supported": ["ES256", "ES384", "PS256", "RS256", "Ed25519"]}
