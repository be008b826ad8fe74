"""The admin never lets an access token in, whatever ``is_admin`` says (RFC 9700 §4.14).

The host is the README's recipe: ``is_admin`` reads ``request.user`` and
``OAuthMiddleware`` is installed, inside or outside the session middleware.
Any request carrying a bearer token (header, query, form body) gets the 400
page, and a POST changes nothing, even with a CSRF token the admin really issued
to that user.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.routing import Mount

from oauth_middleware import (
    OAuthMiddleware,
    TokenStore,
    issue_token,
    logged_in_user,
    register_client,
)
from oauth_middleware.admin import AdminApp
from tests.admin.harness import (
    KEY,
    USER_HEADER,
    HeaderUsers,
    assert_page_headers,
    csrf_of,
    is_admin,
    stored_state,
)

ORDERS = ("oauth-inside-session", "oauth-outside-session")
REFUSED = "An access token cannot sign in to the admin"


def host(store: TokenStore, order: str) -> Starlette:
    admin = AdminApp(store=store, is_admin=is_admin, secret_key=KEY, login_url="/login")
    session = [Middleware(AuthenticationMiddleware, backend=HeaderUsers())]
    oauth = [Middleware(OAuthMiddleware, store=store)]
    return Starlette(routes=[Mount("/admin", admin)],
                     middleware=session + oauth if order == ORDERS[0] else oauth + session)


@pytest.fixture(params=ORDERS)
async def http(store: TokenStore, request: pytest.FixtureRequest
               ) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=host(store, request.param))
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client


async def _tokens(store: TokenStore) -> dict[str, str]:
    """alice's token (she is an admin), and the token of a *client* named alice."""
    await register_client(store, "Web", "web", "https://a.example/cb", public=False,
                          scopes_list=["polls:vote"])
    await register_client(store, "Machine", "alice", "https://a.example/cb", public=False,
                          scopes_list=["polls:vote"], grant_types=["client_credentials"])
    user = await issue_token(store, "web", user="alice")
    client = await issue_token(store, "alice")
    return {"user": user.access_token, "client": client.access_token}


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert_page_headers(response)
    assert REFUSED in response.text and "location" not in response.headers
    assert 'name="csrf_token"' not in response.text


@pytest.mark.rule("auth.login.token-identity-refused")
@pytest.mark.parametrize("kind", ["user", "client"])
@pytest.mark.parametrize("send", ["Bearer", "bearer", "query"])
@pytest.mark.parametrize("session", [None, "alice", "bob"])
async def test_an_access_token_never_opens_an_admin_page(
    http: httpx.AsyncClient, store: TokenStore, kind: str, send: str, session: str | None
) -> None:
    token = (await _tokens(store))[kind]
    headers = {USER_HEADER: session} if session else {}
    if send == "query":
        response = await http.get("/admin/clients/", params={"access_token": token},
                                  headers=headers)
    else:
        response = await http.get("/admin/clients/",
                                  headers={**headers, "Authorization": f"{send} {token}"})
    assert_refused(response)


@pytest.mark.rule("auth.login.token-identity-refused")
@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer zz", "bearer\tzz"])
async def test_any_bearer_header_is_refused_beside_an_admin_session(
    http: httpx.AsyncClient, header: str
) -> None:
    response = await http.get("/admin/clients/",
                              headers={USER_HEADER: "alice", "Authorization": header})
    assert_refused(response)


@pytest.mark.rule("auth.login.token-identity-refused")
@pytest.mark.parametrize("carrier", ["header-no-session", "header-with-session", "query",
                                     "form-body"])
async def test_an_admin_post_with_an_access_token_changes_nothing(
    http: httpx.AsyncClient, store: TokenStore, carrier: str
) -> None:
    token = (await _tokens(store))["user"]
    page = await http.get("/admin/scopes/", headers={USER_HEADER: "alice"})
    fields = {"csrf_token": csrf_of(page), "identifier": "stolen:scope", "title": "Stolen"}
    before = await stored_state(store)
    headers = {USER_HEADER: "alice"}
    url = "/admin/scopes/add"
    if carrier.startswith("header"):
        headers = {"Authorization": f"Bearer {token}"}
        if carrier == "header-with-session":
            headers[USER_HEADER] = "alice"
    elif carrier == "query":
        url += f"?access_token={token}"
    else:
        fields["access_token"] = token
    assert_refused(await http.post(url, data=fields, headers=headers))
    assert await stored_state(store) == before
    fields.pop("access_token", None)
    done = await http.post("/admin/scopes/add", data=fields, headers={USER_HEADER: "alice"})
    assert done.status_code == 303 and await stored_state(store) != before


@pytest.mark.rule("auth.login.token-identity-refused")
async def test_the_readme_recipe_admits_the_session_admin_only(store: TokenStore) -> None:
    """``is_admin=lambda request: logged_in_user(request) in ADMINS``: alice by her login,
    not bob, and not alice's token even where the middleware hands it to the hook."""
    tokens = await _tokens(store)
    seen: list[str | None] = []

    def readme_is_admin(request: Request) -> bool:
        seen.append(logged_in_user(request))
        return logged_in_user(request) in {"alice"}

    admin = AdminApp(store=store, is_admin=readme_is_admin, secret_key=KEY,
                     authenticate=lambda request: "alice")
    app = Starlette(routes=[Mount("/admin", admin)], middleware=[
        Middleware(AuthenticationMiddleware, backend=HeaderUsers()),
        Middleware(OAuthMiddleware, store=store)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://testserver") as http:
        alice = await http.get("/admin/clients/", headers={USER_HEADER: "alice"})
        bob = await http.get("/admin/clients/", headers={USER_HEADER: "bob"})
        token = await http.get("/admin/clients/",
                               headers={"Authorization": f"Bearer {tokens['user']}"})
    assert alice.status_code == 200 and "Clients" in alice.text
    assert bob.status_code == 403
    assert_refused(token)
    assert seen == ["alice", "bob"]
