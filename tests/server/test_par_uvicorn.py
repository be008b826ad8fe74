"""Pushed authorization requests over real HTTP: uvicorn (two workers) and redis-server.

A client pushes its request to par/, the user's browser (an httpx client keeping the
session cookie) signs in, opens auth/ with client_id and request_uri alone, approves,
and the client redeems the code: the whole flow crosses the network. Fifty browsers
racing on one request_uri across both workers get one code between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oauth_middleware import TokenStore, register_client
from tests.redis_process import RedisProcess, free_port
from tests.server.authorize_harness import CHALLENGE, VERIFIER, WEB_REDIRECT, read_page, seed
from tests.server.token_harness import basic
from tests.servers import UvicornProcess
from tests.store_helpers import redis_of

pytestmark = pytest.mark.real_redis_only

#: Concurrent approvals of one pushed request.
N = 50
ASK = {"response_type": "code", "redirect_uri": WEB_REDIRECT, "scope": "polls:read",
       "state": "over the wire", "code_challenge": CHALLENGE, "code_challenge_method": "S256"}


@pytest.fixture(scope="module")
def server(redis_server: RedisProcess) -> Iterator[UvicornProcess]:
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ISSUER": f"http://127.0.0.1:{port}/oauth"}
    with UvicornProcess("tests.server.authorize_harness:uvicorn_app", "--factory",
                        "--workers", "2", "--log-level", "warning", env=env,
                        port=port) as running:
        with httpx.Client(base_url=running.url, timeout=20) as client:
            for _ in range(8):  # both workers have imported the app
                assert client.get("/oauth/.well-known/oauth-authorization-server"
                                  ).status_code == 200
        yield running


async def _client(store: TokenStore) -> str:
    await seed(store)
    registered = await register_client(store, "Pusher", "pusher", WEB_REDIRECT, public=False,
                                       scopes_list=["polls:read"], register_unknown_scopes=False)
    assert registered.client_secret is not None
    return registered.client_secret


async def _signed_in(server: UvicornProcess, user: str) -> httpx.AsyncClient:
    browser = httpx.AsyncClient(base_url=server.url, timeout=20)
    login = await browser.post("/login", data={"username": user, "next": "/"})
    assert login.status_code == 303
    return browser


async def _form(browser: httpx.AsyncClient, query: dict[str, str]
                ) -> tuple[str, dict[str, str | list[str]]]:
    """The consent page's action and the fields approving it."""
    page = await browser.get("/oauth/auth/", params=query)
    assert page.status_code == 200, page.text
    read = read_page(page.text)
    fields: dict[str, str | list[str]] = {
        i["name"]: i["value"] for i in read.inputs if i.get("type") == "hidden"}
    fields.update({"scope": ["polls:read"], "decision": "approve"})
    return read.forms[0]["action"], fields


async def _approve(browser: httpx.AsyncClient, server: UvicornProcess, query: dict[str, str]
                   ) -> httpx.Response:
    action, fields = await _form(browser, query)
    return await browser.post(action, data=fields,
                              headers={"origin": server.url, "sec-fetch-site": "same-origin"})


@pytest.mark.rule("par.endpoint", "par.one-time")
async def test_a_pushed_request_runs_the_whole_code_flow_over_http(
    server: UvicornProcess, store: TokenStore,
) -> None:
    secret = await _client(store)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        pushed = await client.post("/oauth/par", data=ASK, headers=basic("pusher", secret))
        assert pushed.status_code == 201, pushed.text
        assert pushed.headers["cache-control"] == "no-store"
        query = {"client_id": "pusher", "request_uri": pushed.json()["request_uri"]}
        browser = await _signed_in(server, "alice")
        try:
            decided = await _approve(browser, server, query)
            again = await browser.get("/oauth/auth/", params=query)
        finally:
            await browser.aclose()
        assert decided.status_code == 303
        location = urlsplit(decided.headers["location"])
        params = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert params["state"] == "over the wire"
        assert again.status_code == 400 and "location" not in again.headers
        token = await client.post("/oauth/token/", headers=basic("pusher", secret), data={
            "grant_type": "authorization_code", "code": params["code"],
            "redirect_uri": WEB_REDIRECT, "code_verifier": VERIFIER})
        assert token.status_code == 200, token.text
        assert token.json()["scope"] == "polls:read"


@pytest.mark.rule("par.one-time")
async def test_fifty_browsers_racing_on_one_request_uri_over_two_workers_get_one_code(
    server: UvicornProcess, store: TokenStore,
) -> None:
    secret = await _client(store)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        pushed = await client.post("/oauth/par/", data=ASK, headers=basic("pusher", secret))
    query = {"client_id": "pusher", "request_uri": pushed.json()["request_uri"]}
    browsers = [await _signed_in(server, f"user{i}") for i in range(N)]
    try:
        forms = [await _form(b, query) for b in browsers]  # every page shown: none burns it
        answers = await asyncio.gather(*(
            b.post(action, data=fields, headers={"origin": server.url,
                                                 "sec-fetch-site": "same-origin"})
            for b, (action, fields) in zip(browsers, forms, strict=True)))
    finally:
        for b in browsers:
            await b.aclose()
    assert sorted(r.status_code for r in answers) == [303] + [403] * (N - 1)
    assert len(await redis_of(store).keys(f"{store.keys.prefix}code:*")) == 1
