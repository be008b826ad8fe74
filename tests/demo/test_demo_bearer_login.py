"""The consent bypass, end to end: the demo under uvicorn on a real redis-server.

The attack: whoever holds any access token of alice's (here one narrow
``polls:results`` token from the password grant) opens ``auth/`` for another
client with every scope, with the token in the header or the query and no
cookies, and answers the consent form with the same token. Each step must be a
400 page: no consent page, no transaction in Redis, no code, no token; the
consent POST with a token (header, query or form body) consumes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlencode

import httpx
import pytest

from oauth_middleware import TokenStore
from tests.demo.harness import WEB_SECRET, Demo, consent, decide, location, login
from tests.server.authorize_harness import CHALLENGE, assert_page
from tests.store_helpers import redis_of, texts

pytestmark = pytest.mark.real_redis_only

EVERY_SCOPE = "polls:results polls:vote my_polls:my_stats"
REFUSED = "An access token cannot sign anyone in"


@pytest.fixture
async def demo_store(demo: Demo) -> AsyncIterator[TokenStore]:
    store = TokenStore.from_url(demo.redis_url)
    yield store
    await store.aclose()


async def _keys(store: TokenStore) -> dict[str, set[str]]:
    """The stored transactions, codes and tokens (to prove none was added or taken)."""
    prefix = store.keys.prefix
    return {kind: set(texts(list(await redis_of(store).keys(f"{prefix}{kind}:*"))))
            for kind in ("txn", "code", "at", "rt")}


async def _alices_token(demo: Demo) -> str:
    async with httpx.AsyncClient(base_url=demo.url) as http:
        response = await http.post("/oauth/token/", auth=("demo-web", WEB_SECRET), data={
            "grant_type": "password", "username": "alice", "password": "alice-password",
            "scope": "polls:results"})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _auth_url(response_type: str, **extra: str) -> str:
    params = {"response_type": response_type, "client_id": "demo-spa", "scope": EVERY_SCOPE,
              "state": "x", **extra}
    if response_type == "code":
        params |= {"code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    return "/oauth/auth/?" + urlencode(params)


def _assert_refused(response: httpx.Response) -> None:
    page = assert_page(response, 400)
    assert REFUSED in page.text and "Signed in as" not in page.text and not page.forms
    assert "set-cookie" not in response.headers


@pytest.mark.rule("auth.login.never-a-token")
async def test_a_stolen_token_opens_no_consent_page_over_a_real_server(
    demo: Demo, demo_store: TokenStore
) -> None:
    token = await _alices_token(demo)
    before = await _keys(demo_store)
    async with httpx.AsyncClient(base_url=demo.url, follow_redirects=False) as attacker:
        for response_type in ("code", "token"):
            for header in ("Bearer", "bearer"):
                _assert_refused(await attacker.get(
                    _auth_url(response_type), headers={"Authorization": f"{header} {token}"}))
            _assert_refused(await attacker.get(_auth_url(response_type, access_token=token)))
            _assert_refused(await attacker.post(_auth_url(response_type, access_token=token)))
        assert not attacker.cookies
    assert await _keys(demo_store) == before


@pytest.mark.rule("auth.login.never-a-token", "auth.csrf.transaction")
async def test_a_consent_post_with_a_token_is_refused_over_a_real_server(
    demo: Demo, demo_store: TokenStore, agent: httpx.AsyncClient
) -> None:
    """alice's own consent form, answered with her token instead of her session."""
    token = await _alices_token(demo)
    to_login = await agent.get(_auth_url("code"))
    assert location(await login(agent, "alice", location(to_login)[1]["next"]))[0] == (
        "/oauth/auth/")
    action, page = await consent(agent, _auth_url("code"))
    before = await _keys(demo_store)
    assert len(before["txn"]) >= 1
    fields = {i["name"]: i["value"] for i in page.inputs if i.get("type") == "hidden"}
    fields |= {"scope": EVERY_SCOPE.split(), "decision": "approve"}  # type: ignore[dict-item]
    async with httpx.AsyncClient(base_url=demo.url, follow_redirects=False) as attacker:
        _assert_refused(await attacker.post(action, data=fields,
                                            headers={"Authorization": f"Bearer {token}"}))
        _assert_refused(await attacker.post(f"{action}?access_token={token}", data=fields))
    _assert_refused(await agent.post(action, data={**fields, "access_token": token}))
    _assert_refused(await agent.post(action, data=fields,
                                     headers={"Authorization": f"Bearer {token}"}))
    assert await _keys(demo_store) == before
    approved = await decide(agent, action, page, "approve")
    path, params = location(approved)
    assert path.endswith("/client/spa") and params["code"] and params["state"] == "x"
