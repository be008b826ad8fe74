"""A stolen access token over a real uvicorn and redis-server: no consent, no admin.

The README's host (``tests.bearer_host``) with ``OAuthMiddleware`` inside and
outside its session middleware. alice's token, in the header (any case) or the
query, opens neither ``auth/`` (for response_type code or token) nor any admin
page, and an admin POST carrying it changes nothing even with a CSRF token the
admin really issued to alice.
"""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest

from oauth_middleware import TokenStore, issue_token
from tests.admin.harness import USER_HEADER, csrf_of, stored_state
from tests.bearer_host import ORDERS
from tests.redis_process import RedisProcess, free_port
from tests.server.authorize_harness import CHALLENGE, SPA_REDIRECT, assert_page, seed
from tests.servers import UvicornProcess

pytestmark = pytest.mark.real_redis_only


def _auth_url(response_type: str, **extra: str) -> str:
    params = {"response_type": response_type, "client_id": "spa", "redirect_uri": SPA_REDIRECT,
              "scope": "polls:read polls:vote", "state": "s", **extra}
    if response_type == "code":
        params |= {"code_challenge": CHALLENGE, "code_challenge_method": "S256"}
    return "/oauth/auth/?" + urlencode(params)


@pytest.mark.rule("auth.login.never-a-token", "auth.login.token-identity-refused")
@pytest.mark.parametrize("order", ORDERS)
async def test_a_stolen_token_opens_neither_auth_nor_the_admin_over_uvicorn(
    store: TokenStore, redis_server: RedisProcess, order: str
) -> None:
    await seed(store)
    token = (await issue_token(store, "web", user="alice", scopes=["polls:read"])).access_token
    port = free_port()
    env = {"REDIS_URL": redis_server.url, "OM_ORDER": order, "OM_PORT": str(port)}
    with UvicornProcess("tests.bearer_host:create_app", "--factory", env=env,
                        port=port) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            csrf = csrf_of(await http.get("/admin/scopes/", headers={USER_HEADER: "alice"}))
            before = await stored_state(store)
            sent: list[tuple[dict[str, str], dict[str, str]]] = [
                ({"Authorization": f"{scheme} {token}"}, {}) for scheme in ("Bearer", "bearer")]
            sent.append(({}, {"access_token": token}))
            for headers, params in sent:
                for response_type in ("code", "token"):
                    url = _auth_url(response_type, **params)
                    page = assert_page(await http.get(url, headers=headers), 400)
                    assert "An access token cannot sign anyone in" in page.text
                    assert "Signed in as" not in page.text
                admin = await http.get("/admin/clients/", headers=headers, params=params)
                assert admin.status_code == 400 and "location" not in admin.headers
                assert "An access token cannot sign in to the admin" in admin.text
                post = await http.post("/admin/scopes/add", headers=headers, params=params, data={
                    "csrf_token": csrf, "identifier": "stolen:scope", "title": "Stolen"})
                assert post.status_code == 400 and "location" not in post.headers
                assert "An access token cannot sign in to the admin" in post.text
            assert await stored_state(store) == before
            done = await http.post("/admin/scopes/add", headers={USER_HEADER: "alice"}, data={
                "csrf_token": csrf, "identifier": "real:scope", "title": "Real"})
            assert done.status_code == 303 and await stored_state(store) != before
