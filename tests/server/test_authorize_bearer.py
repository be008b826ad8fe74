"""auth/ never takes an access token for a login (RFC 6749 §3.1, §10.2; RFC 9700 §4.14).

The host here is the README's: Starlette's sessions and ``AuthenticationMiddleware``
plus ``OAuthMiddleware``, in either order. Whoever holds one of alice's tokens
must not reach her consent page, her consent POST, a code or a token: any request
to ``auth/`` carrying a bearer credential (header, query, form body) is a 400
page and nothing is stored or consumed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.routing import Mount

from oauth_middleware import OAuthMiddleware, TokenStore, issue_token
from oauth_middleware.server import AuthorizationServer
from tests.server.authorize_harness import (
    CHALLENGE,
    ISSUER,
    SECRET_KEY,
    SPA_REDIRECT,
    USER_HEADER,
    Harness,
    HeaderOrSessionBackend,
    assert_page,
    open_harness,
    seed,
)
from tests.store_helpers import redis_of, texts

ORDERS = ("oauth-inside-session", "oauth-outside-session")
CODE = {"client_id": "spa", "redirect_uri": SPA_REDIRECT, "response_type": "code",
        "scope": "polls:read polls:vote", "state": "st", "code_challenge": CHALLENGE,
        "code_challenge_method": "S256"}
TOKEN = {"client_id": "spa", "redirect_uri": SPA_REDIRECT, "response_type": "token",
         "scope": "polls:read polls:vote", "state": "st"}
REFUSED = "An access token cannot sign anyone in"


def host(server: AuthorizationServer, order: str) -> Starlette:
    """The host with the bearer middleware inside (after) or outside its session middleware."""
    session = [Middleware(SessionMiddleware, secret_key=SECRET_KEY),
               Middleware(AuthenticationMiddleware, backend=HeaderOrSessionBackend())]
    oauth = [Middleware(OAuthMiddleware, store=server.config.store)]
    stack = session + oauth if order == ORDERS[0] else oauth + session
    return Starlette(routes=[Mount("/oauth", server)], middleware=stack)


async def open_host(store: TokenStore, order: str, **options: Any) -> Harness:
    server = AuthorizationServer(store=store, issuer=ISSUER, secret_key=SECRET_KEY, **options)
    app = host(server, order)
    await seed(store)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver",
                             follow_redirects=False)
    return Harness(store, server, app, http)


@pytest.fixture(params=ORDERS)
async def harness(store: TokenStore, request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    h = await open_host(store, request.param)
    async with h.http:
        yield h


async def alices_token(store: TokenStore) -> str:
    """A token of alice's for the confidential client, with one scope only."""
    return (await issue_token(store, "web", user="alice", scopes=["polls:read"])).access_token


async def pending_keys(store: TokenStore) -> list[str]:
    return texts(list(await redis_of(store).keys(f"{store.keys.prefix}txn:*")))


def assert_refused(response: httpx.Response) -> None:
    page = assert_page(response, 400)
    assert REFUSED in page.text and "invalid_request" in response.text
    assert "Signed in as" not in page.text and not page.forms


@pytest.mark.rule("auth.login.never-a-token")
@pytest.mark.parametrize("params", [CODE, TOKEN], ids=["code", "token"])
@pytest.mark.parametrize("send", ["Bearer", "bearer", "BEARER", "query"])
async def test_an_access_token_without_a_session_never_opens_the_consent_page(
    harness: Harness, params: dict[str, str], send: str
) -> None:
    token = await alices_token(harness.store)
    if send == "query":
        response = await harness.get_auth({**params, "access_token": token}, user=None)
    else:
        response = await harness.get_auth(params, user=None,
                                          headers={"Authorization": f"{send} {token}"})
    assert_refused(response)
    assert await pending_keys(harness.store) == []
    assert await harness.code_keys() == []


@pytest.mark.rule("auth.login.never-a-token")
@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "bearer zz", "Bearer \u00e9",
                                    "Bearer\tabc", "Bearer a b c"])
async def test_any_bearer_header_is_refused_even_beside_a_real_login(
    harness: Harness, header: str
) -> None:
    response = await harness.http.get("/oauth/auth/", params=CODE, headers=[
        (b"authorization", header.encode("utf-8")), (USER_HEADER.encode(), b"alice")])
    assert_refused(response)
    assert await pending_keys(harness.store) == []


@pytest.mark.rule("auth.login.never-a-token")
@pytest.mark.parametrize("query", ["access_token=", "access_token=redacted",
                                   "access%5Ftoken=x", "ACCESS_TOKEN_NOT=1&access_token=zz"])
async def test_any_access_token_parameter_is_refused_even_beside_a_real_login(
    harness: Harness, query: str
) -> None:
    url = httpx.URL("https://testserver/oauth/auth/",
                    query=(httpx.QueryParams(CODE).__str__() + "&" + query).encode())
    response = await harness.http.get(url, headers={USER_HEADER: "alice"})
    assert_refused(response)
    assert await pending_keys(harness.store) == []


async def test_a_basic_authorization_header_is_not_refused_as_a_token(harness: Harness) -> None:
    """The refusal is about bearer credentials: another scheme is the host's business."""
    response = await harness.get_auth(CODE, user="alice",
                                      headers={"Authorization": "Basic YWxpY2U6cHc="})
    page = assert_page(response, 200)
    assert "Signed in as alice" in page.text
    assert len(await pending_keys(harness.store)) == 1


@pytest.mark.rule("auth.login.never-a-token", "auth.csrf.transaction")
@pytest.mark.parametrize("carrier", ["header-no-session", "header-with-session", "query",
                                     "form-body"])
async def test_the_consent_post_with_an_access_token_is_refused_and_consumes_nothing(
    harness: Harness, carrier: str
) -> None:
    token = await alices_token(harness.store)
    page = await harness.consent("alice", **CODE)
    pending = await pending_keys(harness.store)
    assert len(pending) == 1
    if carrier.startswith("header"):
        user = "alice" if carrier == "header-with-session" else None
        response = await harness.decide(page, user=user,
                                        headers={"Authorization": f"Bearer {token}"})
    elif carrier == "query":
        page.forms[0]["action"] += f"?access_token={token}"
        response = await harness.decide(page, user="alice")
    else:
        response = await harness.decide(page, user="alice", extra={"access_token": token})
    assert_refused(response)
    assert await pending_keys(harness.store) == pending
    assert await harness.code_keys() == []
    page.forms[0]["action"] = page.forms[0]["action"].split("?")[0]
    clean = await harness.decide(page, user="alice")
    assert clean.status_code == 303 and "code=" in clean.headers["location"]


def _hooks() -> dict[str, Callable[[Request], str | None]]:
    def identity_if_authenticated(request: Request) -> str | None:
        return request.user.identity if request.user.is_authenticated else None

    def any_user(request: Request) -> str | None:
        user = request.scope.get("user")
        return getattr(user, "identity", None) or None

    return {"identity_if_authenticated": identity_if_authenticated, "any_user": any_user}


@pytest.mark.rule("auth.login.never-a-token")
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("hook", sorted(_hooks()))
@pytest.mark.parametrize("send", ["header", "query"])
async def test_a_host_hook_reading_request_user_is_never_handed_a_token(
    store: TokenStore, order: str, hook: str, send: str
) -> None:
    harness = await open_host(store, order, authenticate=_hooks()[hook])
    async with harness.http:
        token = await alices_token(store)
        if send == "query":
            response = await harness.get_auth({**TOKEN, "access_token": token}, user=None)
        else:
            response = await harness.get_auth(TOKEN, user=None,
                                              headers={"Authorization": f"Bearer {token}"})
        assert_refused(response)
        assert await pending_keys(store) == []


def _unescaped(params: dict[str, str]) -> str:
    """``params`` as a query without a single ``%`` (a URL may carry ``:`` and ``/`` raw)."""
    return "&".join(f"{name}={value.replace(' ', '+')}" for name, value in params.items())


@pytest.mark.rule("auth.login.never-a-token")
@pytest.mark.parametrize("query", ["access_token=zz", "access_token", "access_token=a=b",
                                   "access%5Ftoken=x", "x=1&access_token=&y=2"])
async def test_an_access_token_parameter_is_refused_by_auth_itself_without_the_bearer_middleware(
    store: TokenStore, query: str
) -> None:
    """A host without ``OAuthMiddleware`` (or one it does not cover): auth/ reads the query
    itself, whatever the parameter's value or spelling."""
    async with open_harness(store) as harness:
        response = await harness.authorize_raw(_unescaped(CODE) + "&" + query)
        assert_refused(response)
        assert await pending_keys(store) == []


@pytest.mark.parametrize("query", ["note=access_token", "access_tokens=1", "my_access_token=1"])
async def test_a_query_that_only_mentions_access_token_is_no_bearer_credential(
    store: TokenStore, query: str
) -> None:
    async with open_harness(store) as harness:
        response = await harness.authorize_raw(_unescaped(CODE) + "&" + query)
        page = assert_page(response, 200)
        assert "Signed in as alice" in page.text
        assert len(await pending_keys(store)) == 1
