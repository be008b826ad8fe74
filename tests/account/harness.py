"""A host for the connected-apps tests: the page at /account/apps behind a header login.

``x-test-user: alice`` signs a request in (as the admin tests do). ``OAuthMiddleware``
is installed too, inside or outside that login, so a bearer token reaches the page
both ways. :func:`world` stores alice's, bob's and a machine client's grants.
"""

from __future__ import annotations

import html
import re

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Mount

from oauth_middleware import OAuthMiddleware, TokenStore, issue_token, register_client
from oauth_middleware.account import ConnectedAppsApp
from oauth_middleware.models import IssuedTokens, Scope
from tests.admin.harness import KEY, USER_HEADER, HeaderUsers, assert_page_headers

CB = "https://a.example/cb"
PAGE = "/account/apps/"
ORDERS = ("oauth-inside-login", "oauth-outside-login")
NOTHING = "Nothing was revoked"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def host(store: TokenStore, order: str = ORDERS[0]) -> Starlette:
    page = ConnectedAppsApp(store=store, secret_key=KEY, login_url="/login")
    login = [Middleware(AuthenticationMiddleware, backend=HeaderUsers())]
    oauth = [Middleware(OAuthMiddleware, store=store)]
    return Starlette(routes=[Mount("/account/apps", page)],
                     middleware=login + oauth if order == ORDERS[0] else oauth + login)


async def world(store: TokenStore) -> dict[str, IssuedTokens]:
    """alice with two grants of Web and one of Other, bob with one of Web, and a
    client_credentials grant of a machine client whose id is ``alice``."""
    for client_id, title in (("web", "Web <b>Polls</b>"), ("other", "Other app")):
        await register_client(store, title, client_id, CB, public=False,
                              scopes_list=["read", "write"], register_unknown_scopes=True)
    await register_client(store, "Machine", "alice", CB, public=False, scopes_list=["read"],
                          grant_types=["client_credentials"], register_unknown_scopes=True)
    await store.save_scope(Scope("read", "Read your polls"))
    client = await store.get_client("web")
    assert client is not None
    await store.remember_consent("alice", "web", client_generation=client.generation,
                                 approved=["read"], lifetime=3600)
    return {
        "web1": await issue_token(store, "web", user="alice", scopes=["read"]),
        "web2": await issue_token(store, "web", user="alice", scopes=["read", "write"]),
        "other": await issue_token(store, "other", user="alice", scopes=["write"]),
        "bob": await issue_token(store, "web", user="bob"),
        "machine": await issue_token(store, "alice"),
    }


def csrf_of(page: httpx.Response) -> str:
    found = _CSRF.search(page.text)
    assert found is not None, page.text
    return html.unescape(found.group(1))


async def page_of(http: httpx.AsyncClient, user: str = "alice") -> httpx.Response:
    response = await http.get(PAGE, headers={USER_HEADER: user})
    assert response.status_code == 200, response.text
    assert_page_headers(response)
    return response


async def post(http: httpx.AsyncClient, action: str, fields: dict[str, str],
                user: str = "alice", **headers: str) -> httpx.Response:
    return await http.post(PAGE + action, data=fields, headers={USER_HEADER: user, **headers})
